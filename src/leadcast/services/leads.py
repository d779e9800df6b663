"""Reading distributed leads and moving them through the PM's workflow.

Theory of operation
===================

A PM sees a lead only through its distribution to them (``UNIQUE(lead_id, pm_id)``); every
query joins on ``distributions.pm_id = :pm``, so another PM's lead is simply "not found".
Contact details (email, phone) appear only in :meth:`LeadBook.detail`, i.e. to a PM who
received the lead (or to an admin), never in lists or broadcasts.

Statuses of a distribution::

    new ──view──▶ viewed ──▶ accepted ──▶ contacted ──▶ won
     │              │                                └─▶ lost
     └──────────────┴──▶ declined
    (new may also go straight to accepted or declined: acting implies having seen it)

Opening the detail view moves ``new`` to ``viewed``. "Open" leads (the ``max_open_leads``
cap) are the ``new`` and ``viewed`` ones; leaving them decrements the PM's counter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select, update

from leadcast.db.engine import SQLITE_BEGIN, is_postgresql
from leadcast.db.models import Distribution, Lead, PMPreferences
from leadcast.leads.model import PROPERTY_TYPES, Tier, normalise_property_type
from leadcast.leads.notifications import format_timestamp
from leadcast.leads.scoring import badge_for
from leadcast.services.clock import Clock, utc_now
from leadcast.services.errors import InvalidInput, InvalidTransition, NotFound

__all__ = ["OPEN_STATUSES", "TRANSITIONS", "LeadBook", "LeadFilter", "Status"]


class Status(StrEnum):
    NEW = "new"
    VIEWED = "viewed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONTACTED = "contacted"
    WON = "won"
    LOST = "lost"


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.VIEWED, Status.ACCEPTED, Status.DECLINED}),
    Status.VIEWED: frozenset({Status.ACCEPTED, Status.DECLINED}),
    Status.ACCEPTED: frozenset({Status.CONTACTED}),
    Status.CONTACTED: frozenset({Status.WON, Status.LOST}),
    Status.DECLINED: frozenset(),
    Status.WON: frozenset(),
    Status.LOST: frozenset(),
}
"""Allowed status changes of a distribution."""

OPEN_STATUSES = frozenset({Status.NEW, Status.VIEWED})

# Which timestamp column a status change stamps.
_STAMP: Mapping[Status, str] = {
    Status.VIEWED: "viewed_at",
    Status.ACCEPTED: "responded_at",
    Status.DECLINED: "responded_at",
    Status.CONTACTED: "contacted_at",
    Status.WON: "closed_at",
    Status.LOST: "closed_at",
}
MAX_PER_PAGE = 100
MAX_SEARCH = 100
MAX_PROPERTY_TYPE = 40


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Filters of a lead list; ``None`` means any."""

    status: str | None = None
    tier: str | None = None
    property_type: str | None = None
    search: str | None = None

    def checked(self) -> LeadFilter:
        """The filter with its property type canonical, as intake stores it.

        The property type is normalised exactly as intake does (``"Apartments"`` and
        ``"multi family"`` are ``multifamily``); a blank one means any.

        Raises:
            InvalidInput: an unknown status, tier or property type, or an over-long search.
        """
        problems = {}
        if self.status is not None and self.status not in Status.__members__.values():
            problems["status"] = f"must be one of {', '.join(s.value for s in Status)}"
        if self.tier is not None and self.tier not in Tier.__members__.values():
            problems["tier"] = f"must be one of {', '.join(t.value for t in Tier)}"
        if self.search is not None and len(self.search) > MAX_SEARCH:
            problems["search"] = f"must be at most {MAX_SEARCH} characters"
        property_type = (self.property_type or "").strip() or None
        if property_type is not None:
            if len(property_type) > MAX_PROPERTY_TYPE:
                problems["property_type"] = f"must be at most {MAX_PROPERTY_TYPE} characters"
            elif (property_type := normalise_property_type(property_type)) is None:
                known = ", ".join(sorted(PROPERTY_TYPES))
                problems["property_type"] = f"unknown property type (known: {known})"
        if problems:
            raise InvalidInput(problems)
        return replace(self, property_type=property_type)

    def lead_conditions(self) -> list[ColumnElement[bool]]:
        """The conditions on the lead itself: property type and search."""
        lead = Lead.__table__.c
        conditions: list[ColumnElement[bool]] = []
        if self.property_type:
            conditions.append(lead.property_type == self.property_type)
        if self.search and self.search.strip():
            pattern = f"%{_escape_like(self.search.strip())}%"
            conditions.append(
                lead.full_name.ilike(pattern, escape="\\")
                | lead.city.ilike(pattern, escape="\\")
                | lead.street_address.ilike(pattern, escape="\\")
                | lead.zip_code.ilike(pattern, escape="\\")
            )
        return conditions

    def distribution_conditions(self) -> list[ColumnElement[bool]]:
        """The conditions on a distribution: status and tier."""
        d = Distribution.__table__.c
        conditions: list[ColumnElement[bool]] = []
        if self.status:
            conditions.append(d.status == self.status)
        if self.tier:
            conditions.append(d.tier == self.tier)
        return conditions


def _lead_fields(row: Any) -> dict[str, Any]:
    return {
        "id": row.lead_id,
        "property_type": row.property_type,
        "street_address": row.street_address,
        "city": row.city,
        "state": row.state,
        "zip_code": row.zip_code,
        "number_of_units": row.number_of_units,
        "full_name": row.full_name,
        "created_at": format_timestamp(row.lead_created_at),
    }


def _pm_item(row: Any) -> dict[str, Any]:
    tier = Tier(row.tier)
    return _lead_fields(row) | {
        "user_lead_id": row.distribution_id,
        "status": row.status,
        "score": {
            "score": row.score,
            "tier": tier.value,
            "badge": badge_for(tier).as_payload(),
            "reasons": list(row.reasons),
        },
        "viewed_at": _time(row.viewed_at),
        "updated_at": format_timestamp(row.updated_at),
    }


def _time(value: Any) -> str | None:
    return None if value is None else format_timestamp(value)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LeadBook:
    """Queries over distributed leads, and the PM's status changes."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = is_postgresql(engine)

    def _pm_query(self, pm_id: int) -> Select[Any]:
        d, lead = Distribution.__table__.c, Lead.__table__.c
        return (
            select(
                d.id.label("distribution_id"),
                d.lead_id,
                d.score,
                d.tier,
                d.reasons,
                d.breakdown,
                d.status,
                d.viewed_at,
                d.responded_at,
                d.contacted_at,
                d.closed_at,
                d.created_at,
                d.updated_at,
                lead.property_type,
                lead.street_address,
                lead.city,
                lead.state,
                lead.zip_code,
                lead.number_of_units,
                lead.full_name,
                lead.email,
                lead.phone,
                lead.source,
                lead.created_at.label("lead_created_at"),
            )
            .join_from(Distribution, Lead, d.lead_id == lead.id)
            .where(d.pm_id == pm_id)
        )

    def list_for_pm(
        self,
        pm_id: int,
        filters: LeadFilter | None = None,
        *,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]:
        """The PM's leads, newest first: ``{"items", "page", "per_page", "total"}``.

        Raises:
            InvalidInput: bad filters or paging.
        """
        filters = (filters or LeadFilter()).checked()
        page, per_page = _paging(page, per_page)
        d = Distribution.__table__.c
        query = self._pm_query(pm_id).where(
            *filters.distribution_conditions(), *filters.lead_conditions()
        )
        with self._engine.connect() as connection:
            total = connection.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = connection.execute(
                query.order_by(d.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).all()
        return {
            "items": [_pm_item(row) for row in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
        }

    def detail(self, pm_id: int, lead_id: int) -> dict[str, Any]:
        """The PM's view of one lead, with contact details; ``new`` becomes ``viewed``.

        Raises:
            NotFound: the lead was not distributed to this PM.
        """
        with self._write() as connection, connection.begin():
            row = self._locked_row(connection, pm_id, lead_id)
            if row.status == Status.NEW:
                self._apply(connection, pm_id, row, Status.VIEWED)
                row = self._locked_row(connection, pm_id, lead_id)
        return _detail(row)

    def change_status(self, pm_id: int, lead_id: int, status: str) -> dict[str, Any]:
        """Move the PM's lead to ``status``.

        Raises:
            InvalidInput: ``status`` is not a status.
            NotFound: the lead was not distributed to this PM.
            InvalidTransition: the workflow does not allow the change.
        """
        try:
            target = Status(status)
        except ValueError:
            raise InvalidInput(
                {"status": f"must be one of {', '.join(s.value for s in Status)}"}
            ) from None
        with self._write() as connection, connection.begin():
            row = self._locked_row(connection, pm_id, lead_id)
            current = Status(row.status)
            if target not in TRANSITIONS[current]:
                allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final)"
                raise InvalidTransition(
                    f"cannot move a lead from {current.value} to {target.value}; allowed: {allowed}"
                )
            self._apply(connection, pm_id, row, target)
            row = self._locked_row(connection, pm_id, lead_id)
        return _detail(row)

    def admin_list(
        self, filters: LeadFilter | None = None, *, page: int = 1, per_page: int = 20
    ) -> dict[str, Any]:
        """Every lead, newest first, with its recipient count (admins only).

        ``property_type`` and ``search`` filter as for a PM; ``status`` and ``tier`` keep the
        leads with at least one distribution in that status and of that tier (the same one
        when both are given).

        Raises:
            InvalidInput: bad filters or paging.
        """
        filters = (filters or LeadFilter()).checked()
        page, per_page = _paging(page, per_page)
        lead, d = Lead.__table__.c, Distribution.__table__.c
        query = select(Lead.__table__).where(*filters.lead_conditions())
        if by_distribution := filters.distribution_conditions():
            query = query.where(select(d.id).where(d.lead_id == lead.id, *by_distribution).exists())
        with self._engine.connect() as connection:
            total = connection.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = connection.execute(
                query.order_by(lead.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).all()
        return {
            "items": [_admin_item(row) for row in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
        }

    def admin_detail(self, lead_id: int) -> dict[str, Any]:
        """One lead with contact details and every distribution (admins only).

        Raises:
            NotFound: no such lead.
        """
        d = Distribution.__table__.c
        with self._engine.connect() as connection:
            row = connection.execute(
                select(Lead.__table__).where(Lead.__table__.c.id == lead_id)
            ).first()
            if row is None:
                raise NotFound(f"no lead {lead_id}")
            distributions = connection.execute(
                select(d.id, d.pm_id, d.score, d.tier, d.status, d.reasons)
                .where(d.lead_id == lead_id)
                .order_by(d.score.desc(), d.id)
            ).all()
        return _admin_item(row) | {
            "email": row.email,
            "phone": row.phone,
            "distributions": [
                {
                    "user_lead_id": x.id,
                    "pm_id": x.pm_id,
                    "score": x.score,
                    "tier": x.tier,
                    "status": x.status,
                    "reasons": list(x.reasons),
                }
                for x in distributions
            ],
        }

    # -- internals -----------------------------------------------------------------------

    def _write(self) -> Connection:
        connection = self._engine.connect()
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        return connection

    def _locked_row(self, connection: Connection, pm_id: int, lead_id: int) -> Any:
        query = self._pm_query(pm_id).where(Distribution.__table__.c.lead_id == lead_id)
        if self._postgres:
            query = query.with_for_update(of=Distribution.__table__)
        row = connection.execute(query).first()
        if row is None:
            raise NotFound(f"no lead {lead_id} for this property manager")
        return row

    def _apply(self, connection: Connection, pm_id: int, row: Any, target: Status) -> None:
        now = self._clock()
        values: dict[str, Any] = {"status": target.value, "updated_at": now}
        stamp = _STAMP[target]
        if getattr(row, stamp) is None:
            values[stamp] = now
        if target is not Status.VIEWED and row.viewed_at is None:
            values["viewed_at"] = now
        d = Distribution.__table__.c
        connection.execute(update(Distribution).where(d.id == row.distribution_id).values(values))
        if Status(row.status) in OPEN_STATUSES and target not in OPEN_STATUSES:
            prefs = PMPreferences.__table__.c
            connection.execute(
                update(PMPreferences)
                .where(prefs.user_id == pm_id, prefs.open_leads > 0)
                .values(open_leads=prefs.open_leads - 1)
            )


def _paging(page: int, per_page: int) -> tuple[int, int]:
    problems = {}
    if not 1 <= page <= 1_000_000:
        problems["page"] = "must be 1 or more"
    if not 1 <= per_page <= MAX_PER_PAGE:
        problems["per_page"] = f"must be 1-{MAX_PER_PAGE}"
    if problems:
        raise InvalidInput(problems)
    return page, per_page


def _detail(row: Any) -> dict[str, Any]:
    return _pm_item(row) | {
        "email": row.email,
        "phone": row.phone,
        "source": row.source,
        "score_breakdown": list(row.breakdown),
        "responded_at": _time(row.responded_at),
        "contacted_at": _time(row.contacted_at),
        "closed_at": _time(row.closed_at),
        "allowed_transitions": sorted(TRANSITIONS[Status(row.status)]),
    }


def _admin_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "unique_id": row.unique_id,
        "property_type": row.property_type,
        "street_address": row.street_address,
        "city": row.city,
        "state": row.state,
        "zip_code": row.zip_code,
        "number_of_units": row.number_of_units,
        "full_name": row.full_name,
        "source": row.source,
        "recipients": row.recipients,
        "created_at": format_timestamp(row.created_at),
    }
