"""The outbox relay: nothing lost across crashes, retries with backoff, no double sends."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from leadcast.db.models import OutboxMessage
from leadcast.relay.broadcasters import BroadcastError, OutgoingEvent
from leadcast.relay.outbox import Relay, RelayOptions
from leadcast.services.distribution import Distributor
from leadcast.services.intake import LeadInput
from tests.support.factories import SEED_LEAD, FakeClock, RecordingBroadcaster, make_pm


def submit(engine: Engine, n: int = 1, **options: Any) -> None:
    distributor = Distributor(engine, **options)
    for i in range(n):
        distributor.submit(LeadInput.parse(SEED_LEAD | {"unique_id": f"R{i}"}))


def rows(engine: Engine) -> list[OutboxMessage]:
    with engine.connect() as connection:
        found = connection.execute(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [OutboxMessage(**row._mapping) for row in found]


def now_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC) + timedelta(seconds=1))


def test_a_crash_between_commit_and_send_loses_nothing(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine)  # committed; the process "dies" before any relay sends it
    [pending] = rows(engine)
    assert pending.sent_at is None

    recorder = RecordingBroadcaster()
    relay = Relay(engine, recorder)  # a new process starts
    assert asyncio.run(relay.run_once()) == 1
    assert asyncio.run(relay.run_once()) == 0
    assert recorder.events == [OutgoingEvent(pending.channel, "lead.distributed", pending.data)]
    [sent] = rows(engine)
    assert sent.sent_at is not None and sent.attempts == 1 and sent.last_error is None


def test_a_relay_dying_mid_send_hands_over_after_its_lease(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine)
    clock = now_clock()
    hung = RecordingBroadcaster(delay=60)
    options = RelayOptions(lease=30)

    async def die_while_sending() -> None:
        task = asyncio.create_task(Relay(engine, hung, options, clock=clock).run_once())
        await asyncio.sleep(0.3)  # claimed, now "sending"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(die_while_sending())
    assert rows(engine)[0].attempts == 1 and hung.events == []
    recorder = RecordingBroadcaster()
    successor = Relay(engine, recorder, options, clock=clock)
    assert asyncio.run(successor.run_once()) == 0  # still leased by the dead relay
    clock.advance(30)
    assert asyncio.run(successor.run_once()) == 1
    assert asyncio.run(successor.run_once()) == 0
    assert len(recorder.events) == 1
    assert rows(engine)[0].attempts == 2


def test_failures_are_retried_with_exponential_backoff(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine)
    clock = now_clock()
    recorder = RecordingBroadcaster(failures=2)
    relay = Relay(engine, recorder, RelayOptions(backoff_base=0.5), clock=clock, draw=lambda: 0.0)

    assert asyncio.run(relay.run_once()) == 0
    [row] = rows(engine)
    assert (row.attempts, row.last_error) == (1, "simulated outage")
    assert row.next_attempt_at == clock.now + timedelta(seconds=0.5)

    assert asyncio.run(relay.run_once()) == 0  # not due yet
    assert recorder.calls == 1
    clock.advance(0.5)
    assert asyncio.run(relay.run_once()) == 0
    [row] = rows(engine)
    assert row.attempts == 2 and row.next_attempt_at == clock.now + timedelta(seconds=1)

    clock.advance(1)
    assert asyncio.run(relay.run_once()) == 1
    [row] = rows(engine)
    assert row.sent_at is not None and row.last_error is None and row.attempts == 3
    assert len(recorder.events) == 1


@pytest.mark.parametrize(
    ("attempts", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (8, 60.0), (50, 60.0)]
)
def test_backoff_doubles_up_to_a_ceiling(attempts: int, delay: float) -> None:
    assert RelayOptions(backoff_base=0.5, backoff_max=60).backoff(attempts) == delay


@pytest.mark.parametrize(("draw", "delay"), [(0.0, 8.0), (0.5, 7.0), (0.999, 6.002)])
def test_jitter_takes_up_to_a_quarter_off_the_delay(draw: float, delay: float) -> None:
    assert RelayOptions(backoff_base=0.5).backoff(5, draw) == pytest.approx(delay)
    assert RelayOptions(backoff_base=0.5, jitter=0).backoff(5, draw) == 8.0


def test_rows_that_failed_together_come_back_at_different_times(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine, n=20)
    clock = now_clock()
    relay = Relay(
        engine, RecordingBroadcaster(failures=2), RelayOptions(backoff_base=4), clock=clock
    )
    assert asyncio.run(relay.run_once()) == 0
    due = {(row.next_attempt_at - clock.now).total_seconds() for row in rows(engine)}
    assert len(due) > 10  # spread out, not all at once
    assert all(3.0 <= delay <= 4.0 for delay in due)


def test_jitter_is_checked(engine: Engine) -> None:
    with pytest.raises(ValueError, match="jitter"):
        Relay(engine, RecordingBroadcaster(), RelayOptions(jitter=1.5))


def test_events_go_out_in_batches_of_at_most_ten(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine, n=25)
    sizes: list[int] = []

    class Sizes(RecordingBroadcaster):
        async def publish(self, events: Sequence[OutgoingEvent]) -> None:
            sizes.append(len(events))
            await super().publish(events)

    recorder = Sizes()
    assert asyncio.run(Relay(engine, recorder).run_once()) == 25
    assert sorted(sizes) == [5, 10, 10]
    assert len({e.data for e in recorder.events}) == 25


def test_a_rejected_batch_is_retried_event_by_event(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine, n=3)
    poison = rows(engine)[1]

    class Picky(RecordingBroadcaster):
        async def publish(self, events: Sequence[OutgoingEvent]) -> None:
            if any(e.data == poison.data for e in events):
                raise BroadcastError("HTTP 413: data too large", retryable=False)
            await super().publish(events)

    recorder = Picky()
    assert asyncio.run(Relay(engine, recorder).run_once()) == 2
    state = {row.id: (row.sent_at is not None, row.last_error) for row in rows(engine)}
    assert state[poison.id] == (False, "HTTP 413: data too large")
    assert sum(sent for sent, _ in state.values()) == 2
    assert [row.failed_at is not None for row in rows(engine)] == [False, True, False]


def test_run_delivers_as_soon_as_it_is_woken_and_stops(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    recorder = RecordingBroadcaster()
    relay = Relay(engine, recorder, RelayOptions(poll_interval=30))

    async def scenario() -> float:
        stop = asyncio.Event()
        runner = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.to_thread(submit, engine, 1, on_commit=relay.wake)
        while not recorder.events:
            await asyncio.sleep(0.005)
        elapsed = loop.time() - started
        stop.set()
        await asyncio.wait_for(runner, 5)
        return elapsed

    assert asyncio.run(scenario()) < 5  # far below the 30 s poll: the wake did it
    assert len(recorder.events) == 1
    relay.wake()  # harmless when not running


def test_run_keeps_going_after_a_broken_broadcaster(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine)

    class Broken(RecordingBroadcaster):
        async def publish(self, events: Sequence[OutgoingEvent]) -> None:
            self.calls += 1
            raise RuntimeError("bug")

    broken = Broken()
    relay = Relay(engine, broken, RelayOptions(poll_interval=0.05))

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(runner, 5)

    asyncio.run(scenario())
    [row] = rows(engine)
    assert broken.calls == 1 and row.sent_at is None
    assert row.last_error == "RuntimeError: bug"


def insert_pending(engine: Engine, n: int) -> None:
    moment = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as connection:
        connection.execute(
            insert(OutboxMessage),
            [
                {
                    "channel": f"private-property-manager.{i % 7}",
                    "event": "lead.distributed",
                    "data": json.dumps({"n": i}),
                    "created_at": moment,
                    "attempts": 0,
                    "next_attempt_at": moment,
                }
                for i in range(n)
            ],
        )


def test_concurrent_relays_never_send_a_row_twice(engine: Engine, backend: str) -> None:
    total = 400
    insert_pending(engine, total)
    recorders = [RecordingBroadcaster(delay=0.002) for _ in range(3)]
    options = RelayOptions(batch_size=20, poll_interval=0.01)

    def relay_process(recorder: RecordingBroadcaster, start: threading.Barrier) -> None:
        async def drain() -> None:
            relay = Relay(engine, recorder, options)
            start.wait()
            idle = 0
            while idle < 3:
                claimed = await relay.run_once()
                idle = idle + 1 if claimed == 0 else 0
                await asyncio.sleep(0)

        asyncio.run(drain())

    start = threading.Barrier(len(recorders))
    threads = [threading.Thread(target=relay_process, args=(r, start)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    delivered = [json.loads(e.data)["n"] for r in recorders for e in r.events]
    assert sorted(delivered) == list(range(total))
    assert sum(1 for r in recorders if r.events) >= 2  # they really shared the work
    with engine.connect() as connection:
        unsent = connection.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    assert unsent == 0


def test_old_sent_rows_are_purged(engine: Engine) -> None:
    make_pm(engine, "pm@example.com")
    submit(engine, n=2)
    relay = Relay(engine, RecordingBroadcaster())
    asyncio.run(relay.run_once())
    assert relay.purge_sent(datetime.now(UTC) - timedelta(days=1)) == 0
    assert relay.purge_sent(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert rows(engine) == []


def test_chunk_size_is_checked(engine: Engine) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        Relay(engine, RecordingBroadcaster(), RelayOptions(chunk_size=11))


def test_built_from_settings(engine: Engine) -> None:
    from leadcast.config import Settings
    from leadcast.relay.broadcasters import NullBroadcaster

    settings = Settings(broadcast_driver="null", relay_poll_interval=0.2)
    relay = Relay.from_settings(engine, settings)
    assert RelayOptions.from_settings(settings).poll_interval == 0.2
    asyncio.run(relay.aclose())
    assert isinstance(relay._broadcaster, NullBroadcaster)
