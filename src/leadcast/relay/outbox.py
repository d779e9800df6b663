"""The outbox relay: delivers committed outbox rows to the broadcaster, losing none.

Theory of operation
===================

Distribution writes outbox rows in the lead's transaction; the relay is the only thing that
sends them. One round (:meth:`Relay.run_once`):

1. **Claim** (a short transaction, in a worker thread): select due rows
   (``sent_at IS NULL AND next_attempt_at <= now``, oldest first), on PostgreSQL
   ``FOR UPDATE SKIP LOCKED`` so concurrent relays take disjoint rows without waiting; on
   SQLite the transaction starts ``BEGIN IMMEDIATE``, which serialises claims. The claimed
   rows get ``attempts + 1`` and ``next_attempt_at = now + lease``: the lease hides them from
   every other relay while this one sends, and brings them back by itself if this relay dies.
2. **Send** in chunks of at most 10 (one ``batch_events`` request each), several chunks at
   a time. A chunk the server rejects as a whole (a 4xx) is retried event by event, so one
   bad event cannot hold back the others.
3. **Finish** (a short transaction): delivered rows get ``sent_at``; failed ones
   ``next_attempt_at = now + backoff`` (``backoff_base * 2 ** (attempts - 1)``, at most
   ``backoff_max``) and ``last_error``. Failed rows are retried for ever: nothing is dropped.

Delivery is at least once. A relay that crashes after sending but before step 3 leaves rows
that are sent again when their lease ends; a crash anywhere before sending loses nothing.
Keep the broadcaster's request timeout well under ``lease`` (10 s against 30 s by default), or
a slow send could outlive its lease and be sent twice by another relay.

:meth:`Relay.run` repeats rounds until ``stop`` is set: straight away while rows keep coming,
else after ``poll_interval`` or as soon as :meth:`Relay.wake` is called (thread-safe; the API
calls it after each commit). Database work runs in threads (``asyncio.to_thread``), never on
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, update

from leadcast.config import Settings
from leadcast.db.engine import SQLITE_BEGIN, is_postgresql
from leadcast.db.models import OutboxMessage
from leadcast.relay.broadcasters import (
    MAX_BATCH,
    Broadcaster,
    BroadcastError,
    OutgoingEvent,
    build_broadcaster,
)
from leadcast.services.clock import Clock, utc_now

__all__ = ["Relay", "RelayOptions"]

log = logging.getLogger("leadcast.relay")


@dataclass(frozen=True, slots=True)
class RelayOptions:
    """How the relay polls, batches, leases and backs off (times in seconds)."""

    poll_interval: float = 1.0
    batch_size: int = 200
    chunk_size: int = MAX_BATCH
    concurrency: int = 8
    lease: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    retention: float = 7 * 24 * 3600.0
    purge_every: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayOptions:
        return cls(poll_interval=settings.relay_poll_interval)

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after ``attempts`` failed ones."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(attempts - 1, 0)))


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    attempts: int
    event: OutgoingEvent


class Relay:
    """Delivers outbox rows through a broadcaster; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        broadcaster: Broadcaster,
        options: RelayOptions | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._broadcaster = broadcaster
        self._options = options or RelayOptions()
        if not 1 <= self._options.chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be 1-{MAX_BATCH}")
        self._clock = clock
        self._postgres = is_postgresql(engine)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._full_batch = False
        self._last_purge: datetime | None = None

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> Relay:
        """A relay to the broadcaster ``BROADCAST_DRIVER`` names, polling as configured."""
        return cls(engine, build_broadcaster(settings), RelayOptions.from_settings(settings))

    async def aclose(self) -> None:
        """Close the broadcaster (its HTTP connections)."""
        await self._broadcaster.aclose()

    def wake(self) -> None:
        """Ask for a round now (new rows were committed). Safe from any thread."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return  # not running: the first round will find the rows anyway
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver rounds until ``stop`` is set; errors are logged and retried."""
        self._loop = asyncio.get_running_loop()
        wakeup = self._wakeup = asyncio.Event()
        stopper = asyncio.create_task(_relay_stop(stop, wakeup))
        failures = 0
        try:
            while not stop.is_set():
                wakeup.clear()
                delay = self._options.poll_interval
                try:
                    await self.run_once()
                    await self._maybe_purge()
                    failures = 0
                    if self._full_batch:
                        continue
                except Exception:
                    failures += 1
                    delay = self._options.backoff(failures)
                    log.exception("outbox relay round failed; retrying in %.1f s", delay)
                if not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), timeout=delay)
        finally:
            stopper.cancel()
            self._loop = self._wakeup = None

    async def run_once(self) -> int:
        """One round: claim due rows, send them, record the outcome.

        Returns:
            How many events were delivered.
        """
        claimed = await asyncio.to_thread(self._claim)
        self._full_batch = len(claimed) >= self._options.batch_size
        if not claimed:
            return 0
        size = self._options.chunk_size
        chunks = [claimed[i : i + size] for i in range(0, len(claimed), size)]
        gate = asyncio.Semaphore(self._options.concurrency)

        async def send(chunk: list[_Claimed]) -> list[tuple[_Claimed, str | None]]:
            async with gate:
                return await self._send(chunk)

        results = await asyncio.gather(*(send(chunk) for chunk in chunks))
        outcomes = [outcome for result in results for outcome in result]
        await asyncio.to_thread(self._finish, outcomes)
        return sum(1 for _, error in outcomes if error is None)

    async def _send(self, chunk: list[_Claimed]) -> list[tuple[_Claimed, str | None]]:
        try:
            await self._broadcaster.publish([row.event for row in chunk])
        except BroadcastError as error:
            if len(chunk) > 1 and not error.retryable:
                singles = [await self._send([row]) for row in chunk]
                return [outcome for single in singles for outcome in single]
            return [(row, str(error) or type(error).__name__) for row in chunk]
        except Exception as error:  # a broadcaster bug must not lose the rows
            log.exception("broadcaster failed unexpectedly")
            return [(row, f"{type(error).__name__}: {error}") for row in chunk]
        return [(row, None) for row in chunk]

    # -- database work (worker threads) --------------------------------------------------

    def _begin(self) -> Connection:
        connection = self._engine.connect()
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        return connection

    def _claim(self) -> list[_Claimed]:
        now = self._clock()
        o = OutboxMessage.__table__.c
        query = (
            select(o.id, o.channel, o.event, o.data, o.attempts)
            .where(o.sent_at.is_(None), o.next_attempt_at <= now)
            .order_by(o.next_attempt_at, o.id)
            .limit(self._options.batch_size)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        with self._begin() as connection, connection.begin():
            rows = connection.execute(query).all()
            if rows:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id.in_([row.id for row in rows]))
                    .values(
                        attempts=o.attempts + 1,
                        next_attempt_at=now + timedelta(seconds=self._options.lease),
                    )
                )
        return [
            _Claimed(row.id, row.attempts + 1, OutgoingEvent(row.channel, row.event, row.data))
            for row in rows
        ]

    def _finish(self, outcomes: Sequence[tuple[_Claimed, str | None]]) -> None:
        now = self._clock()
        o = OutboxMessage.__table__.c
        sent = [row.id for row, error in outcomes if error is None]
        failed: list[dict[str, Any]] = [
            {
                "b_id": row.id,
                "b_next": now + timedelta(seconds=self._options.backoff(row.attempts)),
                "b_error": error[:1000],
            }
            for row, error in outcomes
            if error is not None
        ]
        with self._begin() as connection, connection.begin():
            if sent:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id.in_(sent))
                    .values(sent_at=now, next_attempt_at=now, last_error=None)
                )
            if failed:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id == bindparam("b_id"))
                    .values(next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error")),
                    failed,
                )
        for row, error in outcomes:
            if error is not None:
                log.warning(
                    "outbox row %d (%s) failed on attempt %d: %s",
                    row.id,
                    row.event.channel,
                    row.attempts,
                    error,
                )

    async def _maybe_purge(self) -> None:
        now = self._clock()
        last = self._last_purge
        if last is not None and (now - last).total_seconds() < self._options.purge_every:
            return
        self._last_purge = now
        await asyncio.to_thread(self.purge_sent, now - timedelta(seconds=self._options.retention))

    def purge_sent(self, before: datetime) -> int:
        """Delete rows sent before ``before``; returns how many."""
        o = OutboxMessage.__table__.c
        with self._begin() as connection, connection.begin():
            result = connection.execute(
                delete(OutboxMessage).where(o.sent_at.is_not(None), o.sent_at < before)
            )
            return int(getattr(result, "rowcount", 0))


async def _relay_stop(stop: asyncio.Event, wakeup: asyncio.Event) -> None:
    await stop.wait()
    wakeup.set()
