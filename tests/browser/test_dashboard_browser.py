"""The PM dashboard in a real browser, against a real ``leadcast up``.

Debian's Chromium (``/usr/bin/chromium``, see ``scripts/install-chromium.sh``) is driven by
``playwright-core`` (pinned in ``tests/browser/package.json``; it never downloads a browser) from
the Node scenario scripts next to this file. Each scenario prints one JSON result line; the
assertions are here. Leads are submitted through ``POST /api/leads`` with the lead-source key
from the server's banner, and each is chosen to match exactly one demo PM
(``leadcast.services.demo``): Avery takes residential/single-family/multifamily/condo with 1-200
units, Blake commercial/office/retail/… with 1-50 units in five ZIPs, Casey
residential/multifamily/hoa/condo with 20-1000 units, all in Austin.

The live scenario takes ``{toast,bell-open,lead-list}.png`` (1280×800) into the test's temporary
directory. Only with ``LEADCAST_UPDATE_SCREENSHOTS=1`` does a passing run copy them over the
committed ``docs/screenshots`` (or into ``LEADCAST_SCREENSHOTS_DIR``), so an ordinary run leaves
the working tree alone. A missing ``node``, Chromium, playwright-core or dashboard build fails
the tests: they are how the dashboard is known to work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import BROWSER_DIR, ROOT, Leadcast, Tools, find_tools

DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE_SCREENSHOTS = "LEADCAST_UPDATE_SCREENSHOTS"
SCENARIO_TIMEOUT = 105  # seconds; each scenario's own watchdog stops it at 90
TOAST_BUDGET_MS = 1000
# From the real-time server's return to the missed lead on screen. The dashboard's reconnect
# attempts are at most 10 s (+20 % jitter) apart (dashboard/src/realtime/echo.ts), so the next
# one comes within 12 s; the rest is for the handshake, the catch-up and a busy machine.
RECOVERY_BUDGET_MS = 25_000

AVERY = {"email": "avery@leadcast.test", "password": "leadcast-demo"}
BLAKE = {"email": "blake@leadcast.test", "password": "leadcast-demo"}
CASEY = {"email": "casey@leadcast.test", "password": "leadcast-demo"}


def lead(
    name: str, property_type: str, units: int, street: str, zip_code: str, **extra: str
) -> dict[str, Any]:
    """A lead in Austin; ``unique_id`` from the name, so each test's leads are distinct."""
    return {
        "unique_id": "BROWSER-" + name.upper().replace(" ", "-"),
        "full_name": name,
        "property_type": property_type,
        "number_of_units": units,
        "street_address": street,
        "city": "Austin",
        "state": "TX",
        "zip_code": zip_code,
        **extra,
    }


CONTACT = {"email": "owner@example.com", "phone": "+1 512 555 0142"}
EMAIL = {"email": "owner@example.com"}
PHONE = {"phone": "+1 512 555 0199"}

# For Avery only (under 20 units: below Casey's minimum). Avery's scores in the comments.
AVERY_FIRST = lead(  # 86, excellent: the toast screenshot
    "Maria Garcia", "residential", 12, "1200 Congress Ave", "78701", source="referral", **CONTACT
)
AVERY_MORE = [
    lead("James Smith", "residential", 8, "815 Lamar Blvd", "78704", **EMAIL),  # 72, good
    lead("Aisha Johnson", "condo", 16, "2400 Guadalupe St", "78703", source="website", **CONTACT),
    lead("Chen Nguyen", "single-family", 3, "77 Riverside Dr", "78702", source="zillow"),  # 52
    lead("Olivia Brown", "residential", 5, "3100 Cesar Chavez St", "78705", **PHONE),  # 72, good
]  # Aisha Johnson 81, excellent; Chen Nguyen fair (no contact details)
# For Casey only (HOA, or more units than Avery's 200).
CASEY_LEADS = [
    lead("Priya Patel", "hoa", 120, "500 E 7th St", "78721", source="referral", **CONTACT),
    lead("Noah Kim", "hoa", 60, "1800 Barton Springs Rd", "78722", source="website", **EMAIL),
    lead("Fatima Okafor", "multifamily", 240, "4500 Airport Blvd", "78723", **PHONE),
]
CASEY_EXTRA = lead("Liam Lopez", "hoa", 45, "900 Rainey St", "78701", **CONTACT)
# Isolation: one lead for Avery only, one for Blake only (office, in his first five ZIPs).
AVERY_PRIVATE = lead("Zoe Martinez", "residential", 6, "12 Pearl St", "78705", **CONTACT)
BLAKE_PRIVATE = lead("Ethan Clark", "office", 10, "301 W 2nd St", "78701", **CONTACT)
# The outage.
AVERY_MISSED = lead("Hannah Lee", "residential", 10, "640 Tillery St", "78702", **CONTACT)


def run_scenario(
    tools: Tools,
    server: Leadcast,
    script: str,
    config: Mapping[str, Any],
    artifacts: Path,
    handlers: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, Any]:
    """Run ``tests/browser/<script>`` and return its result line; fail with the details."""
    full = {
        "base": server.base,
        "apiKey": server.api_key,
        "artifacts": str(artifacts),
        "scenario": Path(script).stem,
        **config,
    }
    messages: list[dict[str, Any]] = []
    stray: list[str] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [tools.node, str(BROWSER_DIR / script), json.dumps(full)],
            cwd=BROWSER_DIR,
            env={**os.environ, "LEADCAST_CHROMIUM": str(tools.chromium)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        watchdog = threading.Timer(SCENARIO_TIMEOUT, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None and process.stdin is not None
            for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    stray.append(line)
                    continue
                if isinstance(message, dict) and "await" in message:
                    (handlers or {})[message["await"]]()
                    process.stdin.write("ok\n")
                    process.stdin.flush()
                else:
                    messages.append(message)
            process.wait(timeout=10)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
            stderr.seek(0)
            errors = stderr.read()
    result = messages[-1] if messages else None
    if not result or not result.get("ok"):
        pytest.fail(
            f"{script} failed (exit {process.returncode}):\n"
            f"{json.dumps(result, indent=2) if result else '(no result line)'}\n"
            f"--- stdout (other) ---\n{''.join(stray)[-2000:]}\n"
            f"--- stderr ---\n{errors[-3000:]}\n"
            f"--- server ---\n{server.output()}",
            pytrace=False,
        )
    return result


def publish_screenshots(
    paths: list[str],
    *,
    environ: Mapping[str, str] = os.environ,
    docs: Path = DOCS_SCREENSHOTS,
) -> Path | None:
    """Copy a passing scenario's screenshots to ``docs`` when ``LEADCAST_UPDATE_SCREENSHOTS=1``.

    Args:
        paths: The screenshots, in the test's temporary directory.
        environ: Where ``LEADCAST_UPDATE_SCREENSHOTS`` and ``LEADCAST_SCREENSHOTS_DIR`` are read.
        docs: The default destination, the committed screenshots.

    Returns:
        The directory they were copied to, or None when they were left where they are.
    """
    if environ.get(UPDATE_SCREENSHOTS) != "1":
        return None
    target = Path(environ.get("LEADCAST_SCREENSHOTS_DIR") or docs)
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copyfile(path, target / Path(path).name)
    return target


def test_screenshots_replace_the_committed_ones_only_when_asked(tmp_path: Path) -> None:
    shot = tmp_path / "run" / "toast.png"
    shot.parent.mkdir()
    shot.write_bytes(b"new")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "toast.png").write_bytes(b"committed")

    for environ in ({}, {UPDATE_SCREENSHOTS: "0"}, {"LEADCAST_SCREENSHOTS_DIR": str(docs)}):
        assert publish_screenshots([str(shot)], environ=environ, docs=docs) is None
    assert (docs / "toast.png").read_bytes() == b"committed"
    assert shot.read_bytes() == b"new"

    assert publish_screenshots([str(shot)], environ={UPDATE_SCREENSHOTS: "1"}, docs=docs) == docs
    assert (docs / "toast.png").read_bytes() == b"new"

    elsewhere = tmp_path / "elsewhere"
    environ = {UPDATE_SCREENSHOTS: "1", "LEADCAST_SCREENSHOTS_DIR": str(elsewhere)}
    assert publish_screenshots([str(shot)], environ=environ, docs=docs) == elsewhere
    assert (elsewhere / "toast.png").read_bytes() == b"new"


def test_chromium_node_and_playwright_are_installed() -> None:
    tools = find_tools()
    version = subprocess.run(
        [str(tools.chromium), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "Chromium" in version.stdout


def test_login_then_a_lead_toasts_within_a_second_and_updates_bell_title_and_list(
    tools: Tools, leadcast: Leadcast, tmp_path: Path
) -> None:
    result = run_scenario(
        tools,
        leadcast,
        "live.mjs",
        {"pm": AVERY, "first": AVERY_FIRST, "more": AVERY_MORE, "screenshots": str(tmp_path)},
        tmp_path,
    )
    latency = result["latency"]
    print(f"\ntoast latency: {json.dumps(latency)}")

    assert result["before"] == {"badge": None, "title": "leadcast"}
    assert result["firstLead"]["recipients"] == 1
    assert latency["toastAfterResponseMs"] is not None
    # When the page laid the toast out (an in-page observer); Playwright's own wait adds its
    # polling and is only reported.
    assert latency["toastAfterResponseMs"] < TOAST_BUDGET_MS, latency
    assert "tier-excellent" in result["toast"]["className"]
    assert "Maria Garcia" in result["toast"]["text"]
    assert "High Value" in result["toast"]["text"]
    assert result["pausedOnHover"]
    assert result["toastStillVisible"]  # paused while the pointer is on it
    assert result["afterFirst"]["badge"] == "1"
    assert result["afterFirst"]["title"] == "(1) leadcast"
    assert "1 unread" in result["afterFirst"]["bellLabel"]
    assert result["noReload"]
    names = [AVERY_FIRST["full_name"], *(lead["full_name"] for lead in AVERY_MORE)]
    assert sorted(result["cardNames"]) == sorted(names)
    assert len(result["bellItems"]) == len(names)
    assert all(item.startswith("Unread:") for item in result["bellItems"])
    assert result["pageErrors"] == []
    published = publish_screenshots(result["screenshots"])
    print(f"screenshots: {published or tmp_path} (set {UPDATE_SCREENSHOTS}=1 to refresh the docs)")


def test_mark_one_read_mark_all_read_and_clear_all(
    tools: Tools, leadcast: Leadcast, tmp_path: Path
) -> None:
    result = run_scenario(
        tools,
        leadcast,
        "read_state.mjs",
        {"pm": CASEY, "leads": CASEY_LEADS, "extra": CASEY_EXTRA},
        tmp_path,
    )
    assert result["received"] == {"badge": "3", "title": "(3) leadcast", "items": 3, "unread": 3}
    assert result["escape"] == {"expanded": "false", "focusOnBell": True}
    after_open = result["afterOpen"]
    assert (after_open["badge"], after_open["title"], after_open["unread"]) == (
        "2",
        "(2) leadcast",
        2,
    )
    assert not after_open["popoverOpen"]
    assert "lead=" in after_open["hash"]
    assert result["openedIsRead"]
    assert result["afterAllRead"] == {"badge": None, "title": "leadcast", "items": 3, "unread": 0}
    assert result["beforeClear"]["badge"] == "1"
    assert result["beforeClear"]["unread"] == 1
    assert result["afterClear"] == {"badge": None, "title": "leadcast", "items": 0, "unread": 0}
    assert result["afterReload"] == {
        "badge": None,
        "title": "leadcast",
        "items": 0,
        "unread": 0,
        "cards": 4,  # clearing notifications keeps the leads
    }
    # The second tab followed every change (its scenario waited for each; this is what it saw).
    other = result["otherTab"]
    assert other["received"] == result["received"]
    assert (other["afterOpen"]["badge"], other["afterOpen"]["title"]) == ("2", "(2) leadcast")
    assert (other["afterOpen"]["items"], other["afterOpen"]["unread"]) == (3, 2)
    assert other["afterAllRead"] == result["afterAllRead"]
    assert (other["beforeClear"]["badge"], other["beforeClear"]["unread"]) == ("1", 1)
    assert other["afterClear"] == result["afterClear"]
    assert result["pageErrors"] == []


def test_a_second_pm_never_sees_the_first_pms_lead(
    tools: Tools, leadcast: Leadcast, tmp_path: Path
) -> None:
    result = run_scenario(
        tools,
        leadcast,
        "isolation.mjs",
        {
            "first": {"pm": AVERY, "lead": AVERY_PRIVATE},
            "second": {"pm": BLAKE, "lead": BLAKE_PRIVATE},
        },
        tmp_path,
    )
    assert result["recipients"] == [1, 1]
    live = result["live"]
    none = {"toastEver": False, "toastsNow": 0, "bellItems": 0, "cards": 0}
    for own in (live["firstSeesOwn"], live["secondSeesOwn"]):
        # Its toast may have closed by now (5 s): that it appeared is what counts.
        assert (own["toastEver"], own["bellItems"], own["cards"]) == (True, 1, 1), own
        assert own["toastsNow"] <= 1, own
    assert live["secondSeesOther"] == none
    assert live["firstSeesOther"] == none
    assert result["afterReload"]["secondCards"] == [BLAKE_PRIVATE["full_name"]]
    assert len(result["afterReload"]["secondBellItems"]) == 1
    assert AVERY_PRIVATE["full_name"] not in result["afterReload"]["secondBellItems"][0]
    assert result["pageErrors"] == []


def test_a_lead_missed_while_the_realtime_server_is_down_appears_after_it_returns(
    tools: Tools, split_leadcast: Leadcast, tmp_path: Path
) -> None:
    server = split_leadcast
    assert server.realtime is not None
    config = server.get("/api/realtime-config")
    # The browser is pointed at the separate real-time server, not at `leadcast up`.
    assert config["enabled"] is True
    assert (config["wsHost"], config["wsPort"], config["forceTLS"]) == (
        "127.0.0.1",
        server.ws_port,
        False,
    )

    realtime = server.realtime
    result = run_scenario(
        tools,
        server,
        "outage.mjs",
        {"pm": AVERY, "lead": AVERY_MISSED, "recoverMs": RECOVERY_BUDGET_MS},
        tmp_path,
        handlers={"stop-realtime": realtime.stop, "start-realtime": realtime.start},
    )
    print(
        "\noutage: "
        + json.dumps(
            {
                k: result[k]
                for k in ("downState", "noticedMs", "reconnectedMs", "bellMs", "catchUps")
            }
        )
    )
    assert result["downState"] in ("reconnecting", "offline")
    assert result["submitted"]["recipients"] == 1
    assert result["whileDown"]["badge"] is None
    assert result["whileDown"]["cards"] == 0
    assert max(result["reconnectedMs"], result["bellMs"], result["listMs"]) < RECOVERY_BUDGET_MS
    assert result["after"]["badge"] == "1"
    assert result["after"]["title"] == "(1) leadcast"
    assert result["after"]["noReload"]
    states = [entry["state"] for entry in result["states"]]
    assert states[0] == "connected"
    assert states[-1] == "connected"
    assert result["pageErrors"] == []
