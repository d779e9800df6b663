"""What the outbox holds, and putting back the rows the relay gave up on.

The relay marks a row failed (``failed_at``) when the broadcaster refuses it for good or when
it has been retried for too long (:mod:`leadcast.relay.outbox`). These functions are what
``leadcast outbox status`` and ``leadcast outbox retry`` run: they touch only the database,
so they work while ``leadcast up`` is running, whose relay picks requeued rows up on its next
poll (``LEADCAST_RELAY_POLL_INTERVAL``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Update, func, select, update

from leadcast.db.engine import SQLITE_BEGIN, is_postgresql
from leadcast.db.models import OutboxMessage

__all__ = [
    "NotFailed",
    "OutboxStatus",
    "RowError",
    "format_status",
    "outbox_status",
    "requeue_all_failed",
    "requeue_failed",
]


@dataclass(frozen=True, slots=True)
class RowError:
    """An outbox row that has failed at least once, with its last error.

    ``failed_at`` is ``None`` while the relay still retries it (at ``next_attempt_at``).
    """

    id: int
    channel: str
    event: str
    attempts: int
    error: str
    failed_at: datetime | None
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Counts of the outbox's undelivered rows, and the latest errors.

    Attributes:
        pending: rows waiting to be sent (due now or later), failed ones excluded.
        retrying: the pending rows that have failed before (they carry a ``last_error``).
        failed: rows the relay gave up on.
        oldest_pending: when the oldest pending row was written, or ``None``.
        errors: the newest failed rows (newest first), then the pending rows being retried.
    """

    pending: int
    retrying: int
    failed: int
    oldest_pending: datetime | None
    errors: tuple[RowError, ...]


class NotFailed(ValueError):
    """Some of the rows asked for are not failed rows; nothing was requeued.

    Attributes:
        reasons: row id → ``"pending"``, ``"sent"`` or ``"no such row"``.
    """

    def __init__(self, reasons: dict[int, str]) -> None:
        listed = ", ".join(f"{row_id} ({why})" for row_id, why in sorted(reasons.items()))
        super().__init__(f"not failed, so not requeued: {listed}; nothing was changed")
        self.reasons = reasons


_O = OutboxMessage.__table__.c
_PENDING = (_O.sent_at.is_(None), _O.failed_at.is_(None))


def outbox_status(engine: Engine, *, errors: int = 5) -> OutboxStatus:
    """Read the outbox's state: counts, the oldest pending row and ``errors`` of each kind."""
    columns = (
        _O.id,
        _O.channel,
        _O.event,
        _O.attempts,
        _O.last_error,
        _O.failed_at,
        _O.next_attempt_at,
    )
    with engine.connect() as connection:
        pending, retrying, oldest = connection.execute(
            select(
                func.count(),
                func.count(_O.last_error),
                func.min(_O.created_at),
            ).where(*_PENDING)
        ).one()
        failed = connection.scalar(
            select(func.count()).select_from(OutboxMessage).where(_O.failed_at.is_not(None))
        )
        dead = connection.execute(
            select(*columns)
            .where(_O.failed_at.is_not(None))
            .order_by(_O.failed_at.desc(), _O.id.desc())
            .limit(errors)
        ).all()
        retried = connection.execute(
            select(*columns)
            .where(*_PENDING, _O.last_error.is_not(None))
            .order_by(_O.id.desc())
            .limit(errors)
        ).all()
    return OutboxStatus(
        pending=pending,
        retrying=retrying,
        failed=failed or 0,
        oldest_pending=oldest,
        errors=tuple(
            RowError(
                id=row.id,
                channel=row.channel,
                event=row.event,
                attempts=row.attempts,
                error=row.last_error or "",
                failed_at=row.failed_at,
                next_attempt_at=row.next_attempt_at,
            )
            for row in (*dead, *retried)
        ),
    )


def requeue_failed(engine: Engine, ids: Sequence[int], *, now: datetime) -> int:
    """Put the failed rows ``ids`` back in the queue, all or none.

    Each is due at once, keeps its ``attempts`` and last error, and gets a fresh give-up
    window from ``now``.

    Returns:
        How many rows were requeued (``len(set(ids))``).

    Raises:
        NotFailed: some id is not a failed row (pending, sent, or absent); nothing changed.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return 0
    query = select(_O.id, _O.sent_at, _O.failed_at).where(_O.id.in_(wanted))
    if is_postgresql(engine):
        query = query.with_for_update()
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            found = {row.id: row for row in connection.execute(query)}
            reasons: dict[int, str] = {}
            for row_id in wanted:
                row = found.get(row_id)
                if row is None:
                    reasons[row_id] = "no such row"
                elif row.failed_at is None:
                    reasons[row_id] = "sent" if row.sent_at is not None else "pending"
            if reasons:
                raise NotFailed(reasons)
            connection.execute(_requeue(now).where(_O.id.in_(wanted)))
    return len(wanted)


def requeue_all_failed(engine: Engine, *, now: datetime) -> int:
    """Put every failed row back in the queue (as :func:`requeue_failed`); returns how many."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            result = connection.execute(_requeue(now).where(_O.failed_at.is_not(None)))
    return int(result.rowcount)


def _requeue(now: datetime) -> Update:
    return update(OutboxMessage).values(failed_at=None, requeued_at=now, next_attempt_at=now)


def format_status(status: OutboxStatus, *, now: datetime) -> str:
    """``status`` as ``leadcast outbox status`` prints it."""
    lines = [f"pending   {status.pending}"]
    if status.oldest_pending is not None:
        age = _duration((now - status.oldest_pending).total_seconds())
        lines[0] += f", the oldest written {age} ago"
    if status.retrying:
        lines.append(f"retrying  {status.retrying} of the pending rows have failed before")
    lines.append(f"failed    {status.failed}")
    if status.failed:
        lines[-1] += " (requeue with `leadcast outbox retry --all-failed` or `--id N`)"
    if status.errors:
        lines.append("last errors:")
    for row in status.errors:
        if row.failed_at is not None:
            when = f"failed {_time(row.failed_at)}"
        else:
            when = f"retrying, next {_time(row.next_attempt_at)}"
        lines.append(
            f"  #{row.id} {row.event} on {row.channel}, {row.attempts} attempt(s), {when}: "
            f"{row.error[:300]}"
        )
    return "\n".join(lines)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
