"""The outbox relay: delivers committed outbox rows to the broadcaster, losing none.

Theory of operation
===================

Distribution writes outbox rows in the lead's transaction; the relay is the only thing that
sends them. One round (:meth:`Relay.run_once`):

1. **Claim** (a short transaction, in a worker thread): select due rows
   (``sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now``, oldest first), on
   PostgreSQL
   ``FOR UPDATE SKIP LOCKED`` so concurrent relays take disjoint rows without waiting; on
   SQLite the transaction starts ``BEGIN IMMEDIATE``, which serialises claims. The claimed
   rows get ``attempts + 1`` and ``next_attempt_at = now + lease``: the lease hides them from
   every other relay while this one sends, and brings them back by itself if this relay dies.
2. **Send** in chunks of at most 10 (one ``batch_events`` request each), several chunks at
   a time. A chunk the server rejects as a whole (a 4xx) is retried event by event, so one
   bad event cannot hold back the others.
3. **Finish** (a short transaction): delivered rows get ``sent_at``. A row whose send failed
   gets ``last_error`` and then either
   - ``failed_at`` (a dead letter, logged at ERROR with its channel and the server's answer)
     when the server refused the event itself for good (400, 413 and the like: sending it
     again would get the same answer; 401, 403 and 404 say the configuration is wrong and
     are retried like a server error, so fixing it lets every row through), or when it
     has been retried for ``give_up_after`` seconds since it was written (or requeued); or
   - ``next_attempt_at = now + backoff``: ``backoff_base * 2 ** (attempts - 1)``, at most
     ``backoff_max``, less a random part of up to ``jitter`` of it, so that rows which failed
     together do not all come back at once.

Failed rows are never claimed again and never purged: ``leadcast outbox status`` shows them
with their errors, and ``leadcast outbox retry`` (:mod:`leadcast.relay.deadletters`) puts
them back in the queue.

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
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update

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
    """How the relay polls, batches, leases, backs off and gives up (times in seconds).

    ``give_up_after`` is how long a row is retried, counted from when it was written (or
    requeued), before it is marked failed; ``None`` retries it for ever.
    """

    poll_interval: float = 1.0
    batch_size: int = 200
    chunk_size: int = MAX_BATCH
    concurrency: int = 8
    lease: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    jitter: float = 0.25
    give_up_after: float | None = 24 * 3600.0
    retention: float = 7 * 24 * 3600.0
    purge_every: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayOptions:
        """Polling and give-up as configured (``LEADCAST_RELAY_*``; give-up 0 = never)."""
        return cls(
            poll_interval=settings.relay_poll_interval,
            give_up_after=settings.relay_give_up_after or None,
        )

    def backoff(self, attempts: int, draw: float = 0.0) -> float:
        """Delay before the next try after ``attempts`` failed ones.

        Args:
            attempts: tries so far (1 after the first failure).
            draw: a random number in [0, 1); up to ``jitter`` of the delay is taken off in
                proportion to it. 0 gives the full delay.
        """
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(attempts - 1, 0))
        return float(ceiling * (1.0 - self.jitter * draw))


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    attempts: int
    event: OutgoingEvent
    since: datetime  # written, or requeued: the start of its give-up window


@dataclass(frozen=True, slots=True)
class _Outcome:
    row: _Claimed
    error: str | None = None  # None: delivered
    retryable: bool = True


class Relay:
    """Delivers outbox rows through a broadcaster; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        broadcaster: Broadcaster,
        options: RelayOptions | None = None,
        *,
        clock: Clock = utc_now,
        draw: Callable[[], float] = random.random,
    ) -> None:
        """Args:
        engine: the database holding the outbox.
        broadcaster: where events go.
        options: polling, batching, backoff and give-up; the defaults when ``None``.
        clock: the current time (timezone-aware).
        draw: random numbers in [0, 1) for the backoff's jitter.

        Raises:
            ValueError: ``chunk_size`` is not 1-10 or ``jitter`` not 0-1.
        """
        self._engine = engine
        self._broadcaster = broadcaster
        self._options = options or RelayOptions()
        if not 1 <= self._options.chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be 1-{MAX_BATCH}")
        if not 0.0 <= self._options.jitter <= 1.0:
            raise ValueError("jitter must be 0-1")
        self._clock = clock
        self._draw = draw
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
                    delay = self._options.backoff(failures, self._draw())
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

        async def send(chunk: list[_Claimed]) -> list[_Outcome]:
            async with gate:
                return await self._send(chunk)

        results = await asyncio.gather(*(send(chunk) for chunk in chunks))
        outcomes = [outcome for result in results for outcome in result]
        await asyncio.to_thread(self._finish, outcomes)
        return sum(1 for outcome in outcomes if outcome.error is None)

    async def _send(self, chunk: list[_Claimed]) -> list[_Outcome]:
        try:
            await self._broadcaster.publish([row.event for row in chunk])
        except BroadcastError as error:
            if len(chunk) > 1 and not error.retryable:
                # One refused event refuses the whole batch: find it by sending one by one.
                singles = [await self._send([row]) for row in chunk]
                return [outcome for single in singles for outcome in single]
            message = str(error) or type(error).__name__
            return [_Outcome(row, message, error.retryable) for row in chunk]
        except Exception as error:  # a broadcaster bug must not lose the rows
            log.exception("broadcaster failed unexpectedly")
            return [_Outcome(row, f"{type(error).__name__}: {error}") for row in chunk]
        return [_Outcome(row) for row in chunk]

    # -- database work (worker threads) --------------------------------------------------

    def _begin(self) -> Connection:
        connection = self._engine.connect()
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        return connection

    def _claim(self) -> list[_Claimed]:
        now = self._clock()
        o = OutboxMessage.__table__.c
        query = (
            select(
                o.id,
                o.channel,
                o.event,
                o.data,
                o.attempts,
                # COALESCE takes its first argument's type: UTC-aware on every database.
                func.coalesce(o.requeued_at, o.created_at).label("since"),
            )
            .where(o.sent_at.is_(None), o.failed_at.is_(None), o.next_attempt_at <= now)
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
            _Claimed(
                row.id,
                row.attempts + 1,
                OutgoingEvent(row.channel, row.event, row.data),
                row.since,
            )
            for row in rows
        ]

    def _gives_up(self, outcome: _Outcome, now: datetime) -> bool:
        if not outcome.retryable:
            return True
        limit = self._options.give_up_after
        return limit is not None and (now - outcome.row.since).total_seconds() >= limit

    def _finish(self, outcomes: Sequence[_Outcome]) -> None:
        now = self._clock()
        o = OutboxMessage.__table__.c
        sent = [outcome.row.id for outcome in outcomes if outcome.error is None]
        retried: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        for outcome in outcomes:
            if outcome.error is None:
                continue
            if self._gives_up(outcome, now):
                dead.append({"b_id": outcome.row.id, "b_error": outcome.error[:1000]})
                continue
            delay = self._options.backoff(outcome.row.attempts, self._draw())
            retried.append(
                {
                    "b_id": outcome.row.id,
                    "b_next": now + timedelta(seconds=delay),
                    "b_error": outcome.error[:1000],
                }
            )
        with self._begin() as connection, connection.begin():
            if sent:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id.in_(sent))
                    .values(sent_at=now, next_attempt_at=now, last_error=None)
                )
            if retried:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id == bindparam("b_id"))
                    .values(next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error")),
                    retried,
                )
            if dead:
                connection.execute(
                    update(OutboxMessage)
                    .where(o.id == bindparam("b_id"))
                    .values(failed_at=now, next_attempt_at=now, last_error=bindparam("b_error")),
                    dead,
                )
        for outcome in outcomes:
            if outcome.error is not None:
                self._log_failure(outcome, now)

    def _log_failure(self, outcome: _Outcome, now: datetime) -> None:
        row = outcome.row
        what = f"outbox row {row.id} ({row.event.name} on {row.event.channel})"
        if not outcome.retryable:
            log.error(
                "%s refused, marked failed after %d attempt(s): %s "
                "(requeue with `leadcast outbox retry --id %d`)",
                what,
                row.attempts,
                outcome.error,
                row.id,
            )
        elif self._gives_up(outcome, now):
            log.error(
                "%s still failing after %d attempt(s) over %.0f s, marked failed: %s "
                "(requeue with `leadcast outbox retry --id %d`)",
                what,
                row.attempts,
                (now - row.since).total_seconds(),
                outcome.error,
                row.id,
            )
        else:
            log.warning("%s failed on attempt %d: %s", what, row.attempts, outcome.error)

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
