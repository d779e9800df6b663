"""Dead letters: refused rows fail at once, retried ones give up in time, and can be requeued.

The broadcaster under test is the real ``PusherBroadcaster`` talking HTTP to a scripted Pusher
API on loopback (``stub_pusher``), or to a real ``leadcast realtime`` server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, select, text, update

from leadcast.config import Settings, SettingsError
from leadcast.db import make_alembic_config, migrate
from leadcast.db.models import OutboxMessage
from leadcast.relay import (
    NotFailed,
    OutgoingEvent,
    PusherBroadcaster,
    Relay,
    RelayOptions,
    format_status,
    outbox_status,
    requeue_all_failed,
    requeue_failed,
)
from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.e2e.wsclient import PusherSocket, unique
from tests.relay.stub_pusher import Answer, always, stub_pusher
from tests.support.factories import FakeClock

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CHANNEL = "private-property-manager.7"
OPTIONS = RelayOptions(jitter=0.0, backoff_base=0.5)


def insert_rows(engine: Engine, channels: Sequence[str], at: datetime = T0) -> list[int]:
    """One pending ``lead.distributed`` row per channel, written at ``at``; their ids."""
    with engine.begin() as connection:
        ids = [
            connection.execute(
                insert(OutboxMessage).returning(OutboxMessage.id),
                {
                    "channel": channel,
                    "event": "lead.distributed",
                    "data": json.dumps({"notification_id": n}),
                    "created_at": at,
                    "attempts": 0,
                    "next_attempt_at": at,
                },
            ).scalar_one()
            for n, channel in enumerate(channels)
        ]
    return ids


def row(engine: Engine, row_id: int) -> OutboxMessage:
    with engine.connect() as connection:
        found = connection.execute(select(OutboxMessage).where(OutboxMessage.id == row_id)).one()
    return OutboxMessage(**found._mapping)


def relay_round(
    engine: Engine,
    broadcaster: PusherBroadcaster,
    clock: FakeClock,
    options: RelayOptions = OPTIONS,
) -> int:
    """One relay round in a fresh event loop; the broadcaster is closed afterwards."""

    async def go() -> int:
        try:
            return await Relay(engine, broadcaster, options, clock=clock).run_once()
        finally:
            await broadcaster.aclose()

    return asyncio.run(go())


def scripted(*statuses: int, then: int = 200) -> Answer:
    """Answer ``statuses`` to the first requests, ``then`` to the rest."""
    left = list(statuses)
    return lambda events: left.pop(0) if left else then


# -- refused for good ------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_refused_row_is_failed_at_once_and_never_retried(
    engine: Engine, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    caplog.set_level(logging.WARNING, logger="leadcast.relay")
    with stub_pusher(always(status)) as stub:
        assert relay_round(engine, stub.broadcaster(), clock) == 0
        failed = row(engine, row_id)
        assert failed.failed_at == T0 and failed.sent_at is None and failed.attempts == 1
        assert failed.last_error is not None
        assert f"HTTP {status}" in failed.last_error
        assert f"stub says {status} to {CHANNEL}" in failed.last_error  # the server's words
        [record] = [r for r in caplog.records if r.name == "leadcast.relay"]
        assert record.levelno == logging.ERROR
        assert CHANNEL in record.getMessage()
        assert f"stub says {status}" in record.getMessage()
        assert f"leadcast outbox retry --id {row_id}" in record.getMessage()

        for _ in range(3):  # hours later: still not claimed
            clock.advance(3600)
            assert relay_round(engine, stub.broadcaster(), clock) == 0
        assert stub.calls == 1
    assert row(engine, row_id).attempts == 1


# -- retried, then delivered -----------------------------------------------------------


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "PUSHER_APP_SECRET"), (403, "quota"), (404, "PUSHER_APP_ID")],
)
def test_a_misconfiguration_keeps_every_row_pending_with_a_hint(
    engine: Engine, status: int, hint: str
) -> None:
    ids = insert_rows(engine, [CHANNEL, CHANNEL])
    clock = FakeClock(T0)
    with stub_pusher(always(status)) as stub:
        for _ in range(3):
            assert relay_round(engine, stub.broadcaster(), clock) == 0
            clock.advance(120)
    for row_id in ids:
        waiting = row(engine, row_id)
        assert waiting.failed_at is None and waiting.sent_at is None
        assert waiting.attempts == 3
        assert waiting.last_error is not None and hint in waiting.last_error


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408, 401, 403, 404])
def test_a_retryable_answer_is_retried_and_delivered_once(engine: Engine, status: int) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    with stub_pusher(scripted(status)) as stub:
        assert relay_round(engine, stub.broadcaster(), clock) == 0
        waiting = row(engine, row_id)
        assert waiting.failed_at is None and waiting.sent_at is None
        assert waiting.last_error is not None and f"HTTP {status}" in waiting.last_error
        assert waiting.next_attempt_at == T0 + timedelta(seconds=0.5)

        assert relay_round(engine, stub.broadcaster(), clock) == 0  # not due yet
        assert stub.calls == 1
        clock.advance(0.5)
        assert relay_round(engine, stub.broadcaster(), clock) == 1
        clock.advance(3600)
        assert relay_round(engine, stub.broadcaster(), clock) == 0
        assert stub.calls == 2
        assert [e.channel for e in stub.delivered] == [CHANNEL]
    sent = row(engine, row_id)
    assert sent.sent_at == T0 + timedelta(seconds=0.5)
    assert (sent.attempts, sent.last_error, sent.failed_at) == (2, None, None)


def test_an_unreachable_server_is_retried(engine: Engine, free_port: int) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    closed = PusherBroadcaster(
        app_id="stub",
        key="stub-key",
        secret="stub-secret",
        base_url=f"http://127.0.0.1:{free_port}",
    )
    assert relay_round(engine, closed, clock) == 0
    waiting = row(engine, row_id)
    assert waiting.failed_at is None and waiting.next_attempt_at == T0 + timedelta(seconds=0.5)
    assert waiting.last_error is not None and "ConnectError" in waiting.last_error

    clock.advance(0.5)
    with stub_pusher() as stub:
        assert relay_round(engine, stub.broadcaster(), clock) == 1
        assert len(stub.delivered) == 1


def test_a_timeout_is_retried(engine: Engine) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)

    def slow(events: list[OutgoingEvent]) -> int:
        time.sleep(1.0)
        return 200

    with stub_pusher(slow) as stub:
        assert relay_round(engine, stub.broadcaster(timeout=0.2), clock) == 0
    waiting = row(engine, row_id)
    assert waiting.failed_at is None and waiting.sent_at is None
    assert waiting.last_error is not None and "Timeout" in waiting.last_error


# -- one bad row in a batch ------------------------------------------------------------


def test_a_refused_batch_is_split_so_only_the_bad_row_fails(engine: Engine) -> None:
    channels = [f"private-property-manager.{n}" for n in range(1, 6)]
    ids = insert_rows(engine, channels)
    bad = channels[2]
    clock = FakeClock(T0)
    with stub_pusher(lambda events: 400 if any(e.channel == bad for e in events) else 200) as stub:
        assert relay_round(engine, stub.broadcaster(), clock) == 4
        sizes = [len(events) for events, _ in stub.requests]
        assert sizes == [5, 1, 1, 1, 1, 1]  # the batch, then one by one
        assert sorted(e.channel for e in stub.delivered) == sorted(set(channels) - {bad})
        clock.advance(3600)
        assert relay_round(engine, stub.broadcaster(), clock) == 0
        assert stub.calls == 6
    states = {row_id: row(engine, row_id) for row_id in ids}
    assert [r.failed_at is not None for r in states.values()] == [False, False, True, False, False]
    assert all(r.sent_at is not None for i, r in states.items() if i != ids[2])


def test_a_retryable_batch_failure_is_not_split(engine: Engine) -> None:
    ids = insert_rows(engine, [f"private-property-manager.{n}" for n in range(3)])
    with stub_pusher(scripted(503)) as stub:
        assert relay_round(engine, stub.broadcaster(), FakeClock(T0)) == 0
        assert [len(events) for events, _ in stub.requests] == [3]
    assert all(row(engine, i).failed_at is None for i in ids)


@pytest.fixture(scope="module")
def realtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with realtime_server(tmp_path_factory.mktemp("realtime"), [DEFAULT_APP]) as running:
        yield running


@pytest.mark.e2e
def test_a_real_server_refusing_one_event_of_a_batch(
    engine: Engine, realtime: RunningServer
) -> None:
    """``leadcast realtime`` answers 400 to a batch with a bad channel name; the rest arrive."""
    good = [unique("leads") for _ in range(4)]
    bad = "leads with spaces"
    now = datetime.now(UTC)
    ids = insert_rows(engine, [*good[:2], bad, *good[2:]], at=now)
    app = DEFAULT_APP
    broadcaster = PusherBroadcaster(
        app_id=app["id"], key=app["key"], secret=app["secret"], base_url=realtime.http_url
    )
    with PusherSocket.open(realtime.ws_url, app["key"]) as ws:
        for channel in good:
            ws.subscribe(channel)
        assert relay_round(engine, broadcaster, FakeClock(now)) == 4
        received = [ws.expect("lead.distributed") for _ in good]
        ws.assert_silent()
    assert sorted(m.channel or "" for m in received) == sorted(good)
    refused = row(engine, ids[2])
    assert refused.failed_at is not None and refused.last_error is not None
    assert "HTTP 400" in refused.last_error and "channel" in refused.last_error
    assert all(row(engine, i).sent_at is not None for i in ids if i != ids[2])


# -- giving up -------------------------------------------------------------------------


def test_retrying_gives_up_after_the_configured_age(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    options = RelayOptions(jitter=0.0, backoff_base=10, give_up_after=60)
    caplog.set_level(logging.WARNING, logger="leadcast.relay")
    with stub_pusher(always(503)) as stub:
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0  # T0: retry at +10
        clock.advance(10)
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0  # +10: retry at +30
        assert row(engine, row_id).failed_at is None
        clock.advance(20)
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0  # +30: at +70
        assert row(engine, row_id).failed_at is None
        clock.advance(40)
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0  # +70: gives up
        given_up = row(engine, row_id)
        assert given_up.failed_at == T0 + timedelta(seconds=70)
        assert given_up.attempts == 4 and given_up.last_error is not None
        assert "HTTP 503" in given_up.last_error
        clock.advance(86400)
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0
        assert stub.calls == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "still failing after 4 attempt(s) over 70 s" in errors[0].getMessage()
    assert CHANNEL in errors[0].getMessage()


def test_without_a_limit_retrying_never_gives_up(engine: Engine) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    options = RelayOptions(jitter=0.0, backoff_max=1, give_up_after=None)
    with stub_pusher(always(503)) as stub:
        for _ in range(3):
            assert relay_round(engine, stub.broadcaster(), clock, options) == 0
            clock.advance(30 * 86400)
    assert row(engine, row_id).failed_at is None
    assert row(engine, row_id).attempts == 3


def test_the_give_up_age_comes_from_the_environment() -> None:
    base = {"BROADCAST_DRIVER": "null"}
    assert RelayOptions.from_settings(Settings.from_env(base)).give_up_after == 86400
    configured = Settings.from_env(base | {"LEADCAST_RELAY_GIVE_UP_AFTER": "3600"})
    assert RelayOptions.from_settings(configured).give_up_after == 3600
    never = Settings.from_env(base | {"LEADCAST_RELAY_GIVE_UP_AFTER": "0"})
    assert RelayOptions.from_settings(never).give_up_after is None
    for bad in ("-1", "soon", "1e9"):
        with pytest.raises(SettingsError, match="LEADCAST_RELAY_GIVE_UP_AFTER"):
            Settings.from_env(base | {"LEADCAST_RELAY_GIVE_UP_AFTER": bad})


# -- requeuing -------------------------------------------------------------------------


def fail(engine: Engine, row_ids: Sequence[int], at: datetime = T0) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids))
            .values(failed_at=at, attempts=1, last_error="HTTP 400 from /apps/stub/events: no")
        )


def test_a_requeued_row_is_delivered(engine: Engine) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    clock = FakeClock(T0)
    with stub_pusher(scripted(400)) as stub:
        assert relay_round(engine, stub.broadcaster(), clock) == 0
        assert row(engine, row_id).failed_at is not None
        clock.advance(60)
        assert requeue_failed(engine, [row_id], now=clock.now) == 1
        requeued = row(engine, row_id)
        assert requeued.failed_at is None and requeued.requeued_at == clock.now
        assert requeued.next_attempt_at == clock.now and requeued.attempts == 1
        assert relay_round(engine, stub.broadcaster(), clock) == 1
        assert [e.channel for e in stub.delivered] == [CHANNEL]
    delivered = row(engine, row_id)
    assert delivered.sent_at == clock.now and delivered.attempts == 2


def test_a_requeued_row_gets_a_fresh_give_up_window(engine: Engine) -> None:
    [row_id] = insert_rows(engine, [CHANNEL])
    fail(engine, [row_id])
    clock = FakeClock(T0 + timedelta(days=3))  # far beyond the 60 s window from creation
    options = RelayOptions(jitter=0.0, give_up_after=60)
    requeue_failed(engine, [row_id], now=clock.now)
    with stub_pusher(always(503)) as stub:
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0
        assert row(engine, row_id).failed_at is None  # retried, not failed at once
        clock.advance(60)
        assert relay_round(engine, stub.broadcaster(), clock, options) == 0
    assert row(engine, row_id).failed_at == clock.now


def test_requeue_refuses_rows_that_are_not_failed_and_changes_nothing(engine: Engine) -> None:
    failed, pending, sent = insert_rows(engine, [CHANNEL] * 3)
    fail(engine, [failed])
    with engine.begin() as connection:
        connection.execute(update(OutboxMessage).where(OutboxMessage.id == sent).values(sent_at=T0))
    before = {i: row(engine, i).__dict__ for i in (failed, pending, sent)}

    with pytest.raises(NotFailed) as refused:
        requeue_failed(engine, [failed, pending, sent, 999_999], now=T0 + timedelta(hours=1))
    assert refused.value.reasons == {pending: "pending", sent: "sent", 999_999: "no such row"}
    assert f"{pending} (pending)" in str(refused.value)

    def state(i: int) -> dict[str, Any]:
        return {k: v for k, v in row(engine, i).__dict__.items() if not k.startswith("_")}

    for i, old in before.items():
        assert state(i) == {k: v for k, v in old.items() if not k.startswith("_")}
    assert requeue_failed(engine, [], now=T0) == 0


def test_requeue_all_failed(engine: Engine) -> None:
    ids = insert_rows(engine, [CHANNEL] * 4)
    fail(engine, ids[:3])
    assert requeue_all_failed(engine, now=T0 + timedelta(minutes=5)) == 3
    assert all(row(engine, i).failed_at is None for i in ids)
    assert requeue_all_failed(engine, now=T0 + timedelta(minutes=6)) == 0
    with stub_pusher() as stub:
        clock = FakeClock(T0 + timedelta(minutes=6))
        assert relay_round(engine, stub.broadcaster(), clock) == 4


def test_failed_rows_are_kept_when_sent_ones_are_purged(engine: Engine) -> None:
    failed, sent = insert_rows(engine, [CHANNEL] * 2)
    fail(engine, [failed])
    with engine.begin() as connection:
        connection.execute(update(OutboxMessage).where(OutboxMessage.id == sent).values(sent_at=T0))
    with stub_pusher() as stub:
        relay = Relay(engine, stub.broadcaster())
        assert relay.purge_sent(T0 + timedelta(days=365)) == 1
        asyncio.run(relay.aclose())
    assert row(engine, failed).failed_at == T0


# -- status ----------------------------------------------------------------------------


def test_status_counts_pending_retrying_and_failed_rows(engine: Engine) -> None:
    old, retrying, failed, sent, _ = insert_rows(engine, [CHANNEL] * 5)
    with engine.begin() as connection:
        o = OutboxMessage
        connection.execute(update(o).where(o.id == old).values(created_at=T0 - timedelta(hours=2)))
        connection.execute(
            update(o)
            .where(o.id == retrying)
            .values(attempts=3, last_error="HTTP 503 from /apps/x/events: busy")
        )
        connection.execute(update(o).where(o.id == sent).values(sent_at=T0, attempts=1))
    fail(engine, [failed], at=T0 + timedelta(minutes=1))

    status = outbox_status(engine)
    assert (status.pending, status.retrying, status.failed) == (3, 1, 1)
    assert status.oldest_pending == T0 - timedelta(hours=2)
    assert [(e.id, e.failed_at is not None) for e in status.errors] == [
        (failed, True),
        (retrying, False),
    ]
    printed = format_status(status, now=T0 + timedelta(hours=1, minutes=30))
    assert printed.splitlines()[:3] == [
        "pending   3, the oldest written 3 h 30 min ago",
        "retrying  1 of the pending rows have failed before",
        "failed    1 (requeue with `leadcast outbox retry --all-failed` or `--id N`)",
    ]
    assert (
        f"  #{failed} lead.distributed on {CHANNEL}, 1 attempt(s), failed 2026-12-07 09:01:00Z: "
        "HTTP 400 from /apps/stub/events: no"
    ) in printed.splitlines()
    assert f"#{retrying} lead.distributed on {CHANNEL}, 3 attempt(s), retrying" in printed


def test_status_of_an_empty_outbox(engine: Engine) -> None:
    status = outbox_status(engine)
    assert (status.pending, status.retrying, status.failed, status.errors) == (0, 0, 0, ())
    assert format_status(status, now=T0) == "pending   0\nfailed    0"


# -- the schema ------------------------------------------------------------------------


def test_the_pending_index_leaves_failed_rows_out(engine: Engine, backend: str) -> None:
    with engine.connect() as connection:
        if backend == "sqlite":
            definition = connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_outbox_pending'")
            )
        else:
            definition = connection.scalar(
                text("SELECT pg_get_indexdef('ix_outbox_pending'::regclass)")
            )
    assert definition is not None
    assert "failed_at IS NULL" in definition and "sent_at IS NULL" in definition


def test_downgrading_0004_turns_failed_rows_back_into_pending_ones(engine: Engine) -> None:
    failed, pending = insert_rows(engine, [CHANNEL] * 2)
    fail(engine, [failed])
    try:
        with engine.begin() as connection:
            config = make_alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        columns = {c["name"] for c in inspect(engine).get_columns("outbox")}
        assert not columns & {"failed_at", "requeued_at"}
        with engine.connect() as connection:
            unsent = connection.execute(
                text("SELECT id FROM outbox WHERE sent_at IS NULL ORDER BY id")
            ).scalars()
            assert list(unsent) == [failed, pending]
    finally:
        migrate(engine)
    assert row(engine, failed).failed_at is None
