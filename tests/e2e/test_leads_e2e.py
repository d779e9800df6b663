"""Leads end to end: ``POST /api/leads`` on a running ``leadcast up`` → real pusher-js clients.

Each backend (SQLite, PostgreSQL) gets its own ``python -m leadcast up`` subprocess, started
the way a user starts it, on free loopback ports and a fresh database
(``tests/e2e/leadcast_up.py``). The test reads the "is up" banner for the demo accounts and
the lead-source API key, logs the demo PMs in through ``POST /api/auth/login``, and runs
``node/leads_e2e.mjs``: unmodified ``pusher-js``
clients authorising ``private-property-manager.{id}`` through ``/api/broadcasting/auth``
(transport ``ajax``, Bearer token), as the dashboard does. Once they are subscribed, the test
submits the seed's lead with the API key and checks what each client received.

The PostgreSQL database is a fresh one (``CREATE DATABASE``) on the server of the shared
``postgres_database`` fixture when it is registered (``tests/support/fixtures.py``), else on
one from ``tests.support.postgres.postgres_url()`` (``LEADCAST_TEST_POSTGRES_URL`` or a
throwaway ``initdb`` server); without either the PostgreSQL runs are skipped (failed on CI).

Needs ``node`` and ``tests/e2e/node/node_modules`` (``bash scripts/bootstrap.sh --with-node``).
Every wait is bounded; every process started here is stopped and its pipes closed.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.leadcast_up import (
    ADMIN_EMAIL,
    APP,
    EMAIL,
    LEAD,
    OTHER_PM_EMAIL,
    PHONE,
    PM_EMAIL,
    Up,
    login,
    node_scenario,
    start_up,
)
from tests.support import postgres

SCENARIO = "leads_e2e.mjs"

NODE_DEADLINE = 40.0  # seconds: the Node scenario's own deadline for everything it does
NODE_TIMEOUT = 45.0  # seconds the test waits for each of its steps (ready, result)
STOP_WITHIN = 5.0  # seconds `leadcast up` may take to exit after SIGTERM

# The seed's LEAD (tests/e2e/leadcast_up.py) scores by the rules of
# src/leadcast/leads/scoring.py (base 30; match fit and lead quality each capped at 35):
# - Avery: type +10, area +10, 100 units in the middle half of 1-200 +10, no caps +5 = 35;
#   email and phone +10, 100+ units +20, website +5 = 35; 30 + 35 + 35 = 100.
# - Casey: type +10, area +10, within 20-1000 +5, daily cap 0 of 200 used +5 = 30;
#   quality 35; 30 + 30 + 35 = 95.
# Reasons: the positive rules, strongest first, ties in table order (match fit first), four.
EXCELLENT_BADGE = {"text": "🔥 High Value", "color": "red", "priority": "high"}
NOTIFICATION = {
    "title": "🔥 High-Value Lead!",
    "message": "New residential property in Austin, TX",
    "priority": "high",
}
EXPECTED_SCORES: dict[str, dict[str, Any]] = {
    PM_EMAIL: {
        "score": 100,
        "tier": "excellent",
        "badge": EXCELLENT_BADGE,
        "reasons": [
            "Large portfolio (100+ units)",
            "Matches your preferred property types",
            "In your target service area",
            "Unit count is in the sweet spot of your range",
        ],
    },
    OTHER_PM_EMAIL: {
        "score": 95,
        "tier": "excellent",
        "badge": EXCELLENT_BADGE,
        "reasons": [
            "Large portfolio (100+ units)",
            "Matches your preferred property types",
            "In your target service area",
            "Email and phone provided",
        ],
    },
}
LEAD_KEYS = {
    "id",
    "user_lead_id",
    "property_type",
    "street_address",
    "city",
    "state",
    "zip_code",
    "number_of_units",
    "full_name",
    "created_at",
    "status",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="module")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to a PostgreSQL server that may create databases.

    The shared session database's server when ``tests/support/fixtures.py`` is registered
    (the whole suite), else one of ``postgres_url()`` for this module.
    """
    with postgres.server_url(request) as url:
        yield url


@contextlib.contextmanager
def database(backend: str, request: pytest.FixtureRequest, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'leadcast.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_server")
    with postgres.fresh_database(server_url, prefix="leadcast_e2e") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def up(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Up]:
    """``leadcast up`` on a fresh database of the backend, shared by this module's tests."""
    workdir = tmp_path_factory.mktemp(f"up-{backend}")
    with database(backend, request, workdir) as url, start_up(url, workdir) as running:
        yield running


# --------------------------------------------------------------------------- the scenario


@dataclass
class Delivery:
    """Everything one run of the scenario produced, for the tests to assert on."""

    up: Up
    pm_id: int
    other_pm_id: int
    submit_status: int
    submitted: dict[str, Any]
    node: dict[str, Any]
    pm_detail: dict[str, Any]
    pm_inbox: dict[str, Any]
    other_detail: dict[str, Any]


def run_scenario(up: Up, args: list[str], on_ready: Callable[[], None]) -> dict[str, Any]:
    """Run the Node scenario; call ``on_ready`` once its clients are subscribed."""
    with node_scenario(
        SCENARIO,
        args,
        ws_host=up.ws_host,
        ws_port=up.ws_port,
        api_url=up.api_url,
        deadline=NODE_DEADLINE,
        context=up.log,
    ) as scenario:
        scenario.wait_for(lambda line: bool(line.get("ready")), "ready line", NODE_TIMEOUT)
        on_ready()
        return scenario.result(NODE_TIMEOUT)


@pytest.fixture(scope="module")
def delivery(up: Up) -> Delivery:
    """Log the demo PMs in, subscribe their pusher-js clients, submit the lead once."""
    with httpx.Client(base_url=up.api_url, timeout=10.0) as client:
        pm = login(client, up.accounts[PM_EMAIL])
        other = login(client, up.accounts[OTHER_PM_EMAIL])
        admin = login(client, up.accounts[ADMIN_EMAIL])
        submitted: dict[str, Any] = {}

        def submit() -> None:
            response = client.post(
                "/api/leads", json=LEAD, headers={"Authorization": f"Bearer {up.api_key}"}
            )
            submitted["status"] = response.status_code
            submitted["body"] = response.json()

        node = run_scenario(
            up,
            [
                "--pm", str(pm["user"]["id"]), "--token", pm["token"],
                "--other-pm", str(other["user"]["id"]), "--other-token", other["token"],
                "--admin-token", admin["token"],
            ],
            submit,
        )  # fmt: skip
        assert "body" in submitted, "the lead was never submitted"
        lead_id = submitted["body"]["id"]

        def as_pm(token: str, path: str) -> dict[str, Any]:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        return Delivery(
            up=up,
            pm_id=pm["user"]["id"],
            other_pm_id=other["user"]["id"],
            submit_status=submitted["status"],
            submitted=submitted["body"],
            node=node,
            pm_inbox=as_pm(pm["token"], "/api/notifications"),
            pm_detail=as_pm(pm["token"], f"/api/leads/{lead_id}"),
            other_detail=as_pm(other["token"], f"/api/leads/{lead_id}"),
        )


# --------------------------------------------------------------------------- the tests


def test_banner_lists_the_demo_accounts_and_an_api_key(up: Up) -> None:
    assert up.api_url.startswith("http://127.0.0.1:")
    assert up.ws_host == "127.0.0.1" and up.ws_port > 0
    assert {PM_EMAIL, OTHER_PM_EMAIL, ADMIN_EMAIL, "blake@leadcast.test"} <= set(up.accounts)
    assert up.api_key.startswith("lck_")
    with httpx.Client(base_url=up.api_url, timeout=10.0) as client:
        config = client.get("/api/realtime-config").json()
    assert config["key"] == APP["PUSHER_APP_KEY"]
    assert config["wsPort"] == up.ws_port


def test_submitting_the_lead_distributes_it_to_both_matching_pms(delivery: Delivery) -> None:
    assert delivery.submit_status == 201, delivery.submitted
    assert delivery.submitted["recipients"] == 2
    assert delivery.submitted["status"] == "distributed"
    assert delivery.submitted["idempotent_replay"] is False


def test_pm_receives_lead_distributed_with_exactly_the_seed_payload(delivery: Delivery) -> None:
    [payload] = delivery.node["pm_events"]
    _assert_seed_payload(payload, delivery, PM_EMAIL)


def test_the_other_matching_pm_receives_their_own_payload(delivery: Delivery) -> None:
    [payload] = delivery.node["other_events"]
    _assert_seed_payload(payload, delivery, OTHER_PM_EMAIL)
    [mine] = delivery.node["pm_events"]
    assert payload["lead"]["user_lead_id"] != mine["lead"]["user_lead_id"]
    assert payload["notification_id"] != mine["notification_id"]


def _assert_seed_payload(payload: dict[str, Any], delivery: Delivery, email: str) -> None:
    assert set(payload) == {"lead", "score", "notification", "notification_id"}
    lead = payload["lead"]
    assert set(lead) == LEAD_KEYS
    assert lead["id"] == delivery.submitted["id"]
    assert lead["created_at"] == delivery.submitted["created_at"]
    assert TIMESTAMP.match(lead["created_at"]), lead["created_at"]
    assert lead["status"] == "new"
    assert isinstance(lead["user_lead_id"], int) and lead["user_lead_id"] > 0
    for name in LEAD_KEYS - {"id", "user_lead_id", "created_at", "status"}:
        assert lead[name] == LEAD[name], name
    assert payload["score"] == EXPECTED_SCORES[email]
    assert payload["notification"] == NOTIFICATION
    assert isinstance(payload["notification_id"], int) and payload["notification_id"] > 0


def test_broadcasts_carry_no_email_or_phone(delivery: Delivery) -> None:
    wire = json.dumps(delivery.node["wire"], ensure_ascii=False)
    for secret in (EMAIL, PHONE, "example.com", "0147"):
        assert secret not in wire
    for payload in (*delivery.node["pm_events"], *delivery.node["other_events"]):
        assert not _keys(payload) & {"email", "phone", "contact"}
    # The PM's own detail view has them: the payload left them out on purpose.
    assert delivery.pm_detail["email"] == EMAIL
    assert delivery.pm_detail["phone"] == PHONE


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_payload_is_what_the_inbox_and_the_lead_api_say(delivery: Delivery) -> None:
    [payload] = delivery.node["pm_events"]
    [item] = [i for i in delivery.pm_inbox["items"] if i["id"] == payload["notification_id"]]
    assert item["payload"] == payload
    assert item["lead_id"] == payload["lead"]["id"]
    assert item["user_lead_id"] == payload["lead"]["user_lead_id"]
    assert {k: item[k] for k in ("title", "message", "priority")} == NOTIFICATION
    assert delivery.pm_inbox["unread_count"] == 1
    detail = delivery.pm_detail
    assert detail["user_lead_id"] == payload["lead"]["user_lead_id"]
    assert detail["score"] == payload["score"]
    [other] = delivery.node["other_events"]
    assert delivery.other_detail["score"] == other["score"]


def test_each_pm_receives_the_event_once_on_their_own_channel(delivery: Delivery) -> None:
    wire = delivery.node["wire"]
    own = f"private-property-manager.{delivery.pm_id}"
    other_own = f"private-property-manager.{delivery.other_pm_id}"
    assert [(m["channel"], m["event"]) for m in wire["pm"]] == [
        (own, "pusher_internal:subscription_succeeded"),
        (own, "lead.distributed"),
    ]
    assert [(m["channel"], m["event"]) for m in wire["other"]] == [
        (other_own, "pusher_internal:subscription_succeeded"),
        (other_own, "lead.distributed"),
    ]
    assert delivery.node["connection_errors"]["pm"] == []
    assert delivery.node["states"]["pm"] == "connected"


def test_another_pm_cannot_subscribe_to_the_pms_channel(delivery: Delivery) -> None:
    own = f"private-property-manager.{delivery.pm_id}"
    refused = delivery.node["subscriptions"]["other_on_pm"]
    assert refused["channel"] == own
    assert refused["succeeded"] is False
    assert refused["error"]["type"] == "AuthError"
    assert refused["error"]["status"] == 403
    assert delivery.node["leaked_events"]["other_on_pm"] == []
    assert all(m["channel"] != own for m in delivery.node["wire"]["other"])
    assert delivery.node["states"]["other"] == "connected"


@pytest.mark.parametrize(("client", "status"), [("anonymous", 401), ("bogus", 401), ("admin", 403)])
def test_clients_without_the_right_token_are_refused(
    delivery: Delivery, client: str, status: int
) -> None:
    """No token or an invalid one: 401; an admin's token: 403 (only the PM may listen)."""
    refused = delivery.node["subscriptions"][client]
    assert refused["succeeded"] is False
    assert refused["error"]["type"] == "AuthError"
    assert refused["error"]["status"] == status
    assert delivery.node["leaked_events"][client] == []
    assert delivery.node["wire"][client] == []


def test_broadcasting_auth_answers_401_and_403_over_http(delivery: Delivery) -> None:
    """The same endpoint pusher-js used, asked directly: the statuses behind the errors."""
    up = delivery.up
    own = f"private-property-manager.{delivery.pm_id}"
    form = {"socket_id": "123.456", "channel_name": own}
    with httpx.Client(base_url=up.api_url, timeout=10.0) as client:
        other = login(client, up.accounts[OTHER_PM_EMAIL])["token"]
        mine = login(client, up.accounts[PM_EMAIL])["token"]
        anonymous = client.post("/api/broadcasting/auth", data=form)
        forbidden = client.post(
            "/api/broadcasting/auth", data=form, headers={"Authorization": f"Bearer {other}"}
        )
        allowed = client.post(
            "/api/broadcasting/auth", data=form, headers={"Authorization": f"Bearer {mine}"}
        )
    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert allowed.status_code == 200
    assert allowed.json()["auth"].startswith(APP["PUSHER_APP_KEY"] + ":")


def test_sigterm_stops_leadcast_up_with_status_0(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with (
        database(backend, request, tmp_path) as url,
        start_up(url, tmp_path) as running,
        httpx.Client(base_url=running.api_url, timeout=10.0) as client,
    ):
        # Some work in flight first: a lead for the relay to deliver.
        response = client.post(
            "/api/leads",
            json={**LEAD, "unique_id": "sigterm-1"},
            headers={"X-Api-Key": running.api_key},
        )
        assert response.status_code == 201, response.text
        status, took = running.stop(timeout=STOP_WITHIN + 5)
        assert status == 0, f"exit status {status}\n{running.log()}"
        assert took < STOP_WITHIN, f"took {took:.1f} s to stop\n{running.log()}"
        assert "Traceback" not in running.output.text, running.log()
