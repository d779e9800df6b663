"""A real crash: a lead committed while broadcasting is down survives a SIGKILL of leadcast up.

1. ``leadcast realtime`` runs on its own, and a pusher-js client (``node/crash_resume.mjs``)
   subscribes to the demo PM's channel through ``/api/broadcasting/auth`` of
2. a first ``leadcast up --no-realtime`` whose relay publishes to a closed port (SQLite file
   database). A lead is submitted; the relay tries, cannot connect, and backs off.
3. That process is killed with SIGKILL: no shutdown, no flush, the outbox rows unsent.
4. A second ``leadcast up --no-realtime`` starts on the same database with its relay pointing
   at the running real-time server. It delivers the rows; the client receives
   ``lead.distributed`` exactly once, with the notification id the PM's inbox shows.

"Exactly once" is checked without waiting on a clock: the test lets the client report only
after the relay has marked every row sent (so nothing will be sent again), and the client
sends a ping first, whose pong comes after anything the server had still queued for it.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from leadcast.db import make_engine
from leadcast.db.models import OutboxMessage
from tests.e2e.leadcast_up import (
    APP,
    LEAD,
    OTHER_PM_EMAIL,
    PM_EMAIL,
    login,
    node_scenario,
    poll,
    start_up,
)
from tests.e2e.server import realtime_server
from tests.support.net import free_port

REALTIME_APP = {
    "id": APP["PUSHER_APP_ID"],
    "key": APP["PUSHER_APP_KEY"],
    "secret": APP["PUSHER_APP_SECRET"],
}


def outbox(database_url: str) -> list[dict[str, Any]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k in ("channel", "attempts", "sent_at", "failed_at")}
        | {"error": row["last_error"]}
        for row in rows
    ]


def test_a_lead_committed_before_a_sigkill_is_delivered_once_after_restart(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'leadcast.db'}"
    closed_port = free_port()
    unreachable = {
        "PUSHER_HOST": "127.0.0.1",
        "PUSHER_PORT": str(closed_port),
        "PUSHER_SCHEME": "http",
    }
    (tmp_path / "realtime").mkdir()
    with realtime_server(tmp_path / "realtime", [REALTIME_APP]) as realtime:
        reachable = unreachable | {"PUSHER_PORT": str(realtime.port)}
        with start_up(database_url, tmp_path, realtime=False, env=unreachable) as first:
            client = httpx.Client(base_url=first.api_url, timeout=10.0)
            with client:
                pm = login(client, first.accounts[PM_EMAIL])
                login(client, first.accounts[OTHER_PM_EMAIL])
                pm_id, token = pm["user"]["id"], pm["token"]
                channel = f"private-property-manager.{pm_id}"
                node = node_scenario(
                    "crash_resume.mjs",
                    ["--pm", str(pm_id), "--token", token],
                    ws_host=realtime.host,
                    ws_port=realtime.port,
                    api_url=first.api_url,
                    deadline=150,
                )
                with node as listener:
                    listener.wait_for(lambda line: line.get("ready") is True, "ready line")

                    submitted = client.post(
                        "/api/leads",
                        json={**LEAD, "unique_id": "crash-1"},
                        headers={"X-Api-Key": first.api_key},
                    )
                    assert submitted.status_code == 201, submitted.text
                    assert submitted.json()["recipients"] == 2
                    inbox = client.get(
                        "/api/notifications", headers={"Authorization": f"Bearer {token}"}
                    ).json()
                    [notification] = inbox["items"]

                    first.wait_for_line(f"(lead.distributed on {channel}) failed on attempt 1")
                    assert first.kill() == -signal.SIGKILL

                    before = outbox(database_url)
                    assert len(before) == 2
                    for row in before:
                        assert row["sent_at"] is None and row["failed_at"] is None, row
                        assert row["attempts"] >= 1 and "ConnectError" in row["last_error"], row

                    with start_up(
                        database_url, tmp_path, realtime=False, env=reachable, first_start=False
                    ) as second:
                        poll(
                            "the restarted relay to mark both rows sent",
                            lambda: all(row["sent_at"] for row in outbox(database_url)),
                            timeout=60,
                        )
                        listener.send("finish")
                        result = listener.result(timeout=30)
                        assert "Traceback" not in second.output.text, second.log()

    [event] = result["events"]
    assert event["notification_id"] == notification["id"]
    assert event["lead"]["id"] == submitted.json()["id"]
    assert event == notification["payload"]
    assert result["wire"] == ["pusher_internal:subscription_succeeded", "lead.distributed"]
    assert result["states"][-1] == "connected" and "disconnected" not in result["states"]
    after = outbox(database_url)
    for old, new in zip(before, after, strict=True):
        assert new["attempts"] == old["attempts"] + 1, columns(after)
        assert new["last_error"] is None and new["failed_at"] is None
