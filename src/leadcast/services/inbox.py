"""The per-PM notification inbox: the database is the inbox, the socket only nudges.

Every ``lead.distributed`` event has a row here, created in the same transaction. A client
shows what arrives live and, after a reconnect, asks for what is newer than the newest item
it has (``after``), so nothing the socket missed is lost. States, as timestamps:

- ``seen_at``: the PM opened the bell with it listed (``mark_all_seen``);
- ``read_at``: marked read, one or all; reading implies seeing, so both stamp ``seen_at`` too;
- ``cleared_at``: "clear all" — gone from the inbox (and no longer unread).

Pages go newest first; ``next_cursor`` is the id to pass as ``before`` for the next page.
``after`` and ``before`` combine, so a client that missed more than one page pages the gap
newest first: ``after=X``, then ``after=X&before=<next_cursor>`` until ``next_cursor`` is
``None``. Items that arrive meanwhile are newer than the first page and come with the next
``after=<newest id>``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from leadcast.db.engine import SQLITE_BEGIN
from leadcast.db.models import NotificationRow
from leadcast.leads.model import Tier
from leadcast.leads.notifications import format_timestamp
from leadcast.services.clock import Clock, utc_now
from leadcast.services.errors import InvalidInput, NotFound

__all__ = ["MAX_PAGE", "Inbox"]

MAX_PAGE = 100


def _item(row: NotificationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "user_lead_id": row.id,
        "tier": row.tier,
        "title": row.title,
        "message": row.message,
        "priority": row.priority,
        "payload": json.loads(row.payload),
        "created_at": format_timestamp(row.created_at),
        "seen_at": _time(row.seen_at),
        "read_at": _time(row.read_at),
    }


def _time(value: Any) -> str | None:
    return None if value is None else format_timestamp(value)


class Inbox:
    """A PM's notifications: list, counts, mark read, mark seen, clear."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._sessions = sessionmaker(engine)
        self._writes = sessionmaker(engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}))
        self._clock = clock

    def list(
        self,
        pm_id: int,
        *,
        read: bool | None = None,
        tier: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        """A page of the PM's inbox, newest first.

        Args:
            pm_id: the PM.
            read: only read (``True``) or unread (``False``) items; ``None`` for both.
            tier: only this tier.
            before: only items older than this id (the previous page's ``next_cursor``).
            after: only items newer than this id (catching up after a reconnect); with
                ``before``, the items between the two (paging a gap larger than ``limit``).
            limit: page size, 1-100.

        Returns:
            ``{"items", "next_cursor", "unread_count", "unseen_count"}``.

        Raises:
            InvalidInput: a bad tier, cursor or limit.
        """
        problems = {}
        if tier is not None and tier not in Tier.__members__.values():
            problems["tier"] = f"must be one of {', '.join(t.value for t in Tier)}"
        if not 1 <= limit <= MAX_PAGE:
            problems["limit"] = f"must be 1-{MAX_PAGE}"
        for name, cursor in (("before", before), ("after", after)):
            if cursor is not None and not 0 <= cursor < 2**63:
                problems[name] = "must be a notification id"
        if problems:
            raise InvalidInput(problems)
        n = NotificationRow
        query = select(n).where(n.pm_id == pm_id, n.cleared_at.is_(None))
        if read is not None:
            query = query.where(n.read_at.is_not(None) if read else n.read_at.is_(None))
        if tier is not None:
            query = query.where(n.tier == tier)
        if before is not None:
            query = query.where(n.id < before)
        if after is not None:
            query = query.where(n.id > after)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(n.id.desc()).limit(limit + 1)).all()
            counts = self._counts(session, pm_id)
            items = [_item(row) for row in rows[:limit]]
        more = len(rows) > limit
        return {
            "items": items,
            "next_cursor": str(items[-1]["id"]) if more and items else None,
            **counts,
        }

    def counts(self, pm_id: int) -> dict[str, int]:
        """``{"unread_count", "unseen_count"}`` of the PM's inbox (cleared items excluded)."""
        with self._sessions() as session:
            return self._counts(session, pm_id)

    def _counts(self, session: Session, pm_id: int) -> dict[str, int]:
        n = NotificationRow
        unread, unseen = session.execute(
            select(
                func.count().filter(n.read_at.is_(None)),
                func.count().filter(n.seen_at.is_(None)),
            ).where(n.pm_id == pm_id, n.cleared_at.is_(None))
        ).one()
        return {"unread_count": unread or 0, "unseen_count": unseen or 0}

    def mark_read(self, pm_id: int, notification_id: int) -> dict[str, Any]:
        """Mark one item read (and seen).

        Raises:
            NotFound: no such item in this PM's inbox.
        """
        n = NotificationRow
        now = self._clock()
        with self._writes.begin() as session:
            row = session.scalar(select(n).where(n.id == notification_id, n.pm_id == pm_id))
            if row is None:
                raise NotFound(f"no notification {notification_id}")
            if row.read_at is None:
                row.read_at = now
            if row.seen_at is None:
                row.seen_at = now
            session.flush()
            return _item(row)

    def mark_all_read(self, pm_id: int) -> int:
        """Mark every unread item read and seen, as :meth:`mark_read` does for one.

        Afterwards both counts are 0 (items read before reading implied seeing get seen too).

        Returns:
            How many items were unread.
        """
        return self._stamp_all(pm_id, "seen_at", "read_at")

    def mark_all_seen(self, pm_id: int) -> int:
        """Mark every unseen item seen (the bell was opened); returns how many changed."""
        return self._stamp_all(pm_id, "seen_at")

    def clear_all(self, pm_id: int) -> int:
        """Clear the inbox: every item leaves it; returns how many."""
        return self._stamp_all(pm_id, "cleared_at")

    def _stamp_all(self, pm_id: int, *columns: str) -> int:
        """Stamp each of ``columns``, in order, on the inbox items that lack it, in one
        transaction; returns how many items the last column was stamped on."""
        n = NotificationRow
        now = self._clock()
        stamped = 0
        with self._writes.begin() as session:
            for column in columns:
                result = session.execute(
                    update(n)
                    .where(n.pm_id == pm_id, n.cleared_at.is_(None), getattr(n, column).is_(None))
                    .values({column: now})
                    .execution_options(synchronize_session=False)
                )
                stamped = int(getattr(result, "rowcount", 0))
        return stamped
