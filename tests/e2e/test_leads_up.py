"""``leadcast up`` end to end: ``--demo`` submits and broadcasts leads; pusher-js ``signin()``.

Each test starts its own ``python -m leadcast up`` on a fresh SQLite file database and free
loopback ports (``tests/e2e/leadcast_up.py``), reads the demo accounts from its banner and
talks to it as a browser would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.leadcast_up import (
    APP,
    OTHER_PM_EMAIL,
    PM_EMAIL,
    Up,
    login,
    node_scenario,
    poll,
    start_up,
)
from tests.e2e.wsclient import PusherSocket


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- --no-demo-accounts -----------------------------------------------------------------


def test_no_demo_accounts_leaves_a_fresh_database_without_users(tmp_path: Path) -> None:
    with start_up(
        f"sqlite:///{tmp_path / 'leadcast.db'}",
        tmp_path,
        args=["--no-demo-accounts"],
        env={"BROADCAST_DRIVER": "null"},
        first_start=False,
    ) as running:
        with httpx.Client(base_url=running.api_url, timeout=10.0) as client:
            refused = client.post(
                "/api/auth/login", json={"email": PM_EMAIL, "password": "leadcast-demo"}
            )
        banner = running.output.text
    assert refused.status_code == 401
    assert "log in as" not in banner and "API key" not in banner
    assert "broadcasts  null (nothing reaches a browser)" in banner


# -- --demo ----------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Up]:
    with start_up(
        f"sqlite:///{tmp_path / 'leadcast.db'}",
        tmp_path,
        args=["--demo", "--demo-interval", "0.2"],
    ) as running:
        yield running


def next_broadcast(ws: PusherSocket, timeout: float) -> Any:
    """The next ``lead.distributed`` (pings and other events are skipped)."""
    message = poll("a lead.distributed broadcast", lambda: _receive(ws), timeout=timeout, every=0)
    return message


def _receive(ws: PusherSocket) -> Any:
    message = ws.recv(timeout=30)
    return message if message.event == "lead.distributed" else None


def test_demo_mode_creates_leads_and_broadcasts_them(demo: Up) -> None:
    with httpx.Client(base_url=demo.api_url, timeout=10.0) as client:
        pm = login(client, demo.accounts[PM_EMAIL])
        channel = f"private-property-manager.{pm['user']['id']}"
        with PusherSocket.open(f"ws://{demo.ws_host}:{demo.ws_port}", APP["PUSHER_APP_KEY"]) as ws:
            auth = client.post(
                "/api/broadcasting/auth",
                data={"socket_id": ws.socket_id, "channel_name": channel},
                headers=bearer(pm["token"]),
            )
            assert auth.status_code == 200, auth.text
            ws.subscribe(channel, auth.json()["auth"])
            broadcast = next_broadcast(ws, timeout=60)

        assert broadcast.channel == channel
        payload = json.loads(broadcast.raw["data"])

        def leads() -> list[dict[str, Any]] | None:
            page = client.get("/api/leads", headers=bearer(pm["token"])).json()
            items: list[dict[str, Any]] = page["items"]
            return items if len(items) >= 2 else None

        items = poll("two demo leads in the PM's list", leads, timeout=60, every=0.2)

    assert payload["lead"]["id"] in {item["id"] for item in items}
    [item] = [item for item in items if item["id"] == payload["lead"]["id"]]
    assert item["user_lead_id"] == payload["lead"]["user_lead_id"]
    assert item["score"] == payload["score"]
    demo.wait_for_line("demo lead ")
    assert "Traceback" not in demo.output.text, demo.log()


# -- pusher:signin through /api/broadcasting/user-auth ----------------------------------


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    workdir = tmp_path_factory.mktemp("up")
    with start_up(f"sqlite:///{workdir / 'leadcast.db'}", workdir) as running:
        yield running


@dataclass(frozen=True)
class Signin:
    pm_id: str
    other_id: str
    result: dict[str, Any]


@pytest.fixture(scope="module")
def signin(up: Up) -> Signin:
    """Run ``node/signin_api.mjs``: the PM, another PM, a bogus token and none sign in."""
    with httpx.Client(base_url=up.api_url, timeout=10.0) as client:
        pm = login(client, up.accounts[PM_EMAIL])
        other = login(client, up.accounts[OTHER_PM_EMAIL])
    pm_id = str(pm["user"]["id"])
    argv = ["--pm", pm_id, "--token", pm["token"], "--other-token", other["token"]]
    with node_scenario(
        "signin_api.mjs", argv, ws_host=up.ws_host, ws_port=up.ws_port, api_url=up.api_url
    ) as scenario:
        result = scenario.result(timeout=60)
    return Signin(pm_id, str(other["user"]["id"]), result)


def test_pusher_js_signs_in_and_receives_an_event_sent_to_the_user(up: Up, signin: Signin) -> None:
    result = signin.result
    assert result["user_data"]["pm"] == {
        "id": signin.pm_id,
        "user_info": {"name": up.accounts[PM_EMAIL].name, "role": "pm"},
    }
    assert result["user_data"]["other"]["id"] == signin.other_id
    assert result["signin_success"] == {"pm": 1, "other": 1, "bogus": 0, "anonymous": 0}
    assert result["send_response"] == {}
    assert result["received"] == {
        "pm": [{"lead": 42, "note": "call back"}],
        "other": [],
        "bogus": [],
        "anonymous": [],
    }
    user_channel = f"#server-to-user-{signin.pm_id}"
    assert result["user_channels"]["pm"] == [
        {"channel": user_channel, "event": "pusher_internal:subscription_succeeded"},
        {"channel": user_channel, "event": "lead.note"},
    ]
    assert result["user_channels"]["bogus"] == result["user_channels"]["anonymous"] == []


def test_signin_with_a_wrong_or_no_token_fails_cleanly(signin: Signin) -> None:
    result = signin.result
    for name in ("bogus", "anonymous"):
        [error] = result["signin_errors"][name]
        assert error["type"] == "AuthError" and error["status"] == 401, error
        assert result["states"][name] == "connected"  # sign-in refused, connection kept
        assert result["connection_errors"][name] == []
    assert result["signin_errors"]["pm"] == result["signin_errors"]["other"] == []


def test_user_auth_answers_401_without_a_valid_token(up: Up) -> None:
    """The endpoint pusher-js called, asked directly: the status behind the errors above."""
    form = {"socket_id": "123.456"}
    with httpx.Client(base_url=up.api_url, timeout=10.0) as client:
        anonymous = client.post("/api/broadcasting/user-auth", data=form)
        bogus = client.post(
            "/api/broadcasting/user-auth", data=form, headers=bearer("lct_not-a-real-token")
        )
        token = login(client, up.accounts[PM_EMAIL])["token"]
        allowed = client.post("/api/broadcasting/user-auth", data=form, headers=bearer(token))
    assert anonymous.status_code == bogus.status_code == 401
    assert allowed.status_code == 200
    assert allowed.json()["auth"].startswith(APP["PUSHER_APP_KEY"] + ":")
