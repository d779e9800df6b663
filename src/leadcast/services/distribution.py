"""Submitting a lead: idempotency, matching, and one transaction that records everything.

Theory of operation
===================

``Distributor.submit`` runs, for a new lead, a single transaction:

1. read the candidates: active PMs serving the lead's ZIP and property type (one range of
   the ``pm_coverage`` index, ZIP × type × PM), with SQL pre-filters for units and for caps
   surely reached; no locks, so this never waits. Scoring is the costly part of a lead, so
   at most ``candidate_limit`` (50) are read: where more PMs are eligible, the fairest
   (fewest leads today, longest wait) are the ones scored;
2. ``select_recipients`` (the pure domain: eligibility, score, rank, fair tie-break) picks at
   most N of them;
3. lock only the chosen PMs' rows, ``ORDER BY id FOR UPDATE`` on PostgreSQL (one statement in
   one order, so no deadlocks; on SQLite the transaction began ``BEGIN IMMEDIATE``, holding
   the database's write lock), re-read them and let ``select_recipients`` decide again on
   those fresh counters: a PM another lead just brought to a cap drops out, so daily caps
   hold under concurrency while only a handful of rows is ever locked. (On SQLite, one
   process's submissions also queue on a lock in the ``Distributor``: the database has one
   writer at a time anyway, and its busy-waiting is much slower than a queue);
4. Core bulk inserts: the lead, its distributions (``UNIQUE(lead_id, pm_id)``), one inbox
   notification per recipient (sharing the distribution's id, which is therefore also the
   payload's ``notification_id``) and one outbox row (``lead.distributed`` on
   ``private-property-manager.{pm_id}``); then the recipients' counters (``leads_today`` for
   the UTC day, ``open_leads``, ``last_assigned_at``) are updated. On PostgreSQL these are
   two statements (round trips) with data-modifying CTEs, the rows sent as JSON arrays: the
   lead with its distributions, then the notifications, outbox rows and counters.

After the commit, ``on_commit`` (the relay's ``wake``) is called so the broadcast goes out
at once instead of at the next poll. Nothing is broadcast from inside the transaction: a
crash before the relay runs leaves the outbox rows, which the next relay delivers.

Idempotency: a lead carries an optional ``unique_id`` (the source's own id) and the request
an optional ``Idempotency-Key``; both are unique per submitter (``leads.submitted_by``: each
lead-source API key, and admins together), so two sources never collide on their own ids.
The unique constraints decide
(no look-up first, so a new lead costs nothing extra): a repeat's insert fails, its
transaction rolls back, and the stored lead is looked up. The same fingerprint (the
normalised payload) returns it and distributes nothing; a different one is an
``IdempotencyConflict``. Two first attempts racing are settled the same way.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ClauseElement, Connection, Dialect, Engine, Select, or_, select
from sqlalchemy.exc import IntegrityError

from leadcast.config import Settings
from leadcast.db.engine import SQLITE_BEGIN, is_postgresql
from leadcast.db.models import Lead
from leadcast.leads.matching import select_recipients
from leadcast.leads.model import DistributionConfig, LeadFacts, Match, PMProfile
from leadcast.leads.notifications import format_timestamp, lead_payload, notification_for
from leadcast.services import distribution_sql as sql
from leadcast.services.clock import Clock, utc_now
from leadcast.services.errors import IdempotencyConflict, InvalidInput
from leadcast.services.intake import LeadInput
from leadcast.services.profiles import leads_today

__all__ = [
    "DEFAULT_CANDIDATE_LIMIT",
    "EVENT",
    "Distributor",
    "SubmitResult",
    "channel_for",
    "submitted_by",
]

EVENT = "lead.distributed"
DEFAULT_CANDIDATE_LIMIT = 50
"""Most eligible PMs scored for one lead (see ``Distributor``)."""
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_DEFAULT_CONFIG = DistributionConfig()


def submitted_by(api_key_id: int | None) -> str:
    """Whose ids a lead's ``unique_id`` and ``Idempotency-Key`` are: its API key's, or the
    admins' (a lead submitted with an admin's token)."""
    return "admin" if api_key_id is None else f"key:{api_key_id}"


def channel_for(pm_id: int) -> str:
    """The private channel a PM's browser subscribes to."""
    return f"private-property-manager.{pm_id}"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The outcome of a submission.

    Attributes:
        lead_id: the lead's id.
        unique_id: the source's id for it, if given.
        created_at: when it was first submitted.
        recipients: how many PMs it went to.
        created: ``False`` when this was an idempotent repeat (nothing new was written).
    """

    lead_id: int
    unique_id: str | None
    created_at: datetime
    recipients: int
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.lead_id,
            "unique_id": self.unique_id,
            "created_at": format_timestamp(self.created_at),
            "recipients": self.recipients,
            "status": "distributed" if self.recipients else "unmatched",
            "idempotent_replay": not self.created,
        }


class Distributor:
    """Submits leads: validates idempotency, distributes, records, and nudges the relay."""

    def __init__(
        self,
        engine: Engine,
        config: DistributionConfig = _DEFAULT_CONFIG,
        *,
        on_commit: Callable[[], None] | None = None,
        candidate_limit: int | None = DEFAULT_CANDIDATE_LIMIT,
        clock: Clock = utc_now,
    ) -> None:
        """Args:
        engine: the database.
        config: recipients per lead and scoring thresholds.
        on_commit: called after each commit that distributed a lead (the relay's wake).
        candidate_limit: most eligible PMs scored per lead (``None``: all); beyond it the
            ones with the fewest leads today and the longest wait are taken.
        clock: the current time.
        """
        if candidate_limit is not None and candidate_limit < config.max_recipients:
            raise ValueError("candidate_limit must be at least max_recipients")
        self._engine = engine
        self._config = config.check()
        self._on_commit = on_commit
        self._clock = clock
        self._postgres = is_postgresql(engine)
        self._candidate_limit = candidate_limit
        limited = candidate_limit is not None
        self._reads: dict[str, Select[Any]] = {
            "candidates": sql.candidates_query(with_units=True, limited=limited),
            "candidates_any_units": sql.candidates_query(with_units=False, limited=limited),
            "lock": sql.lock_query(postgres=self._postgres),
        }
        # PostgreSQL: the hot path's reads and its last write run on the driver's connection.
        self._prepared = (
            {
                name: _Prepared(statement, engine.dialect)
                for name, statement in (
                    *self._reads.items(),
                    ("notify", sql.PG_NOTIFY_QUEUE_AND_COUNT),
                )
            }
            if self._postgres
            else {}
        )
        # SQLite has one writer at a time: queueing this process's submissions here is far
        # cheaper than letting them wait on the database lock's busy-sleeps.
        self._gate: AbstractContextManager[object] = (
            contextlib.nullcontext() if self._postgres else threading.Lock()
        )

    @classmethod
    def from_settings(
        cls,
        engine: Engine,
        settings: Settings,
        *,
        on_commit: Callable[[], None] | None = None,
        clock: Clock = utc_now,
    ) -> Distributor:
        """A distributor with the settings' recipients, tiers and candidate limit."""
        return cls(
            engine,
            settings.distribution_config(),
            on_commit=on_commit,
            candidate_limit=settings.candidate_limit,
            clock=clock,
        )

    def submit(
        self,
        lead: LeadInput,
        *,
        idempotency_key: str | None = None,
        api_key_id: int | None = None,
    ) -> SubmitResult:
        """Distribute a lead, or return the stored one for a repeat.

        Args:
            lead: the validated lead.
            idempotency_key: the request's ``Idempotency-Key`` header, if any.
            api_key_id: the lead source that submitted it, if any.

        Raises:
            InvalidInput: a malformed idempotency key.
            IdempotencyConflict: the key or ``unique_id`` was used with another payload.
        """
        if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidInput({"Idempotency-Key": "must be 1-255 printable characters"})
        fingerprint = lead.fingerprint()
        submitter = submitted_by(api_key_id)
        keyed = lead.unique_id is not None or idempotency_key is not None
        try:
            result = self._distribute(lead, fingerprint, idempotency_key, api_key_id, submitter)
        except IntegrityError:
            if keyed and (
                found := self._existing(submitter, lead.unique_id, idempotency_key, fingerprint)
            ):
                return found
            raise
        if self._on_commit is not None and result.recipients:
            self._on_commit()
        return result

    def _existing(
        self, submitter: str, unique_id: str | None, key: str | None, fingerprint: str
    ) -> SubmitResult | None:
        leads = Lead.__table__.c
        conditions = []
        if unique_id is not None:
            conditions.append(leads.unique_id == unique_id)
        if key is not None:
            conditions.append(leads.idempotency_key == key)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    leads.id,
                    leads.unique_id,
                    leads.created_at,
                    leads.recipients,
                    leads.request_hash,
                ).where(leads.submitted_by == submitter, or_(*conditions))
            ).all()
        if not rows:
            return None
        if len(rows) > 1 or rows[0].request_hash != fingerprint:
            raise IdempotencyConflict(
                "this unique_id or Idempotency-Key was already used for a different lead"
            )
        row = rows[0]
        return SubmitResult(row.id, row.unique_id, row.created_at, row.recipients, created=False)

    def _distribute(
        self,
        lead: LeadInput,
        fingerprint: str,
        key: str | None,
        api_key_id: int | None,
        submitter: str,
    ) -> SubmitResult:
        now = self._clock()
        facts = lead.facts()
        with self._gate, self._engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                matches = self._select(connection, facts, now)
                lead_row = {
                    **_lead_columns(lead),
                    "submitted_by": submitter,
                    "unique_id": lead.unique_id,
                    "idempotency_key": key,
                    "request_hash": fingerprint,
                    "api_key_id": api_key_id,
                    "recipients": len(matches),
                    "created_at": now,
                }
                if matches and self._postgres:
                    lead_id, distribution_ids = self._insert_pg(connection, lead_row, matches)
                else:
                    lead_id = connection.execute(sql.INSERT_LEAD, lead_row).scalar_one()
                    distribution_ids = (
                        self._insert_distributions(connection, lead_id, matches, now)
                        if matches
                        else []
                    )
                if matches:
                    self._record(connection, lead, facts, lead_id, matches, distribution_ids, now)
        return SubmitResult(lead_id, lead.unique_id, now, len(matches), created=True)

    def _select(self, connection: Connection, facts: LeadFacts, now: datetime) -> list[Match]:
        """Choose the recipients; the chosen PMs' rows stay locked until the commit.

        The candidates are read without locks (cheap, no waiting), a first choice is made,
        and only the chosen PMs' rows are then locked (``ORDER BY id FOR UPDATE``) and read
        again: the final choice among them uses those fresh counters, so a PM another lead
        brought to a cap in the meantime is dropped and caps hold under concurrency.
        """
        today = now.date()
        units = facts.number_of_units
        params: dict[str, Any] = {
            "c_zip": facts.zip_code,
            "c_type": facts.property_type,
            "c_today": today,
            "c_units": units,
            "c_limit": self._candidate_limit,
        }
        which = "candidates" if units is not None else "candidates_any_units"
        rows = self._rows(connection, which, params)
        chosen = select_recipients(facts, self._profiles(rows, facts, today), self._config)
        if not chosen:
            return []
        rows = self._rows(connection, "lock", {"c_ids": [m.pm.id for m in chosen]})
        fresh = self._profiles(rows, facts, today)
        if fresh == sorted((m.pm for m in chosen), key=lambda pm: pm.id):
            return chosen  # nobody changed in between: the choice stands as scored
        return select_recipients(facts, fresh, self._config)

    def _rows(
        self, connection: Connection, which: str, params: dict[str, Any]
    ) -> Sequence[tuple[Any, ...]]:
        prepared = self._prepared.get(which)
        if prepared is not None:
            return prepared.run(connection, params)
        return connection.execute(self._reads[which], params).all()

    def _profiles(
        self, rows: Sequence[tuple[Any, ...]], facts: LeadFacts, today: date
    ) -> list[PMProfile]:
        # Candidates were found through the lead's ZIP and property type, so those are their
        # service area and types as far as this lead is concerned.
        area, types = frozenset({facts.zip_code}), frozenset({facts.property_type})
        # Unpacked by position (the order of ``sql.PROFILE_COLUMNS``): reading a row's
        # columns by name costs more than building the profile, for 50 rows a lead.
        return [
            PMProfile(
                id=user_id,
                active=active,
                property_types=types,
                service_zips=area,
                min_units=min_units,
                max_units=max_units,
                daily_cap=daily_cap,
                max_open_leads=max_open_leads,
                leads_today=leads_today(count, counted_on, today),
                open_leads=open_leads,
                last_assigned_at=last_assigned_at,
            )
            for (
                user_id,
                active,
                min_units,
                max_units,
                daily_cap,
                max_open_leads,
                count,
                counted_on,
                open_leads,
                last_assigned_at,
            ) in rows
        ]

    def _insert_pg(
        self, connection: Connection, lead_row: dict[str, Any], matches: list[Match]
    ) -> tuple[int, list[int]]:
        """PostgreSQL: the lead and its distributions in one statement; their ids, the
        distributions' in the order of ``matches``."""
        rows = connection.execute(
            sql.PG_INSERT_LEAD_AND_DISTRIBUTIONS,
            {
                **lead_row,
                "status": "new",
                "d_rows": json.dumps(
                    [
                        {
                            "pm_id": match.pm.id,
                            "score": match.score.score,
                            "tier": match.score.tier.value,
                            "reasons": list(match.score.reasons),
                            "breakdown": _breakdown(match),
                        }
                        for match in matches
                    ],
                    ensure_ascii=False,
                ),
            },
        ).all()
        by_pm = {row.pm_id: row.id for row in rows}
        return rows[0].lead_id, [by_pm[match.pm.id] for match in matches]

    def _insert_distributions(
        self, connection: Connection, lead_id: int, matches: list[Match], now: datetime
    ) -> list[int]:
        return list(
            connection.execute(
                sql.INSERT_DISTRIBUTIONS,
                [
                    {
                        "lead_id": lead_id,
                        "pm_id": match.pm.id,
                        "score": match.score.score,
                        "tier": match.score.tier.value,
                        "reasons": list(match.score.reasons),
                        "breakdown": _breakdown(match),
                        "status": "new",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for match in matches
                ],
            ).scalars()
        )

    def _record(
        self,
        connection: Connection,
        lead: LeadInput,
        facts: LeadFacts,
        lead_id: int,
        matches: list[Match],
        distribution_ids: list[int],
        now: datetime,
    ) -> None:
        """The notifications and outbox rows of the new distributions; the counters."""
        notification_rows: list[dict[str, Any]] = []
        outbox_rows: list[dict[str, Any]] = []
        for match, distribution_id in zip(matches, distribution_ids, strict=True):
            notification = notification_for(facts, match.score.tier)
            payload = lead_payload(
                lead_id=lead_id,
                distribution_id=distribution_id,
                property_type=lead.property_type,
                street_address=lead.street_address,
                city=lead.city,
                state=lead.state,
                zip_code=lead.zip_code,
                number_of_units=lead.number_of_units,
                full_name=lead.full_name,
                created_at=now,
                status="new",
                score=match.score,
                notification=notification,
                # A notification shares its distribution's id (one each).
                notification_id=distribution_id,
            )
            data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            notification_rows.append(
                {
                    "id": distribution_id,
                    "pm_id": match.pm.id,
                    "lead_id": lead_id,
                    "tier": match.score.tier.value,
                    "title": notification.title,
                    "message": notification.message,
                    "priority": notification.priority,
                    "payload": data,
                    "created_at": now,
                }
            )
            outbox_rows.append(
                {
                    "channel": channel_for(match.pm.id),
                    "event": EVENT,
                    "data": data,
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
        if self._postgres:
            self._prepared["notify"].run(
                connection,
                {
                    "lead_id": lead_id,
                    "now": now,
                    "today": now.date(),
                    "event": EVENT,
                    # An array, not the rows' ids: the planner then takes the primary key
                    # instead of scanning every PM for a semi-join.
                    "pm_ids": [match.pm.id for match in matches],
                    "n_rows": json.dumps(
                        [
                            {
                                "id": row["id"],
                                "pm_id": row["pm_id"],
                                "tier": row["tier"],
                                "title": row["title"],
                                "message": row["message"],
                                "priority": row["priority"],
                                "payload": row["payload"],
                                "channel": outbox["channel"],
                            }
                            for row, outbox in zip(notification_rows, outbox_rows, strict=True)
                        ],
                        ensure_ascii=False,
                    ),
                },
            )
            return
        connection.execute(sql.INSERT_NOTIFICATIONS, notification_rows)
        connection.execute(sql.INSERT_OUTBOX, outbox_rows)
        connection.execute(
            sql.COUNT_ASSIGNED,
            {"c_ids": [match.pm.id for match in matches], "c_today": now.date(), "c_now": now},
        )


class _Prepared:
    """A statement compiled once for psycopg and run on the driver's own connection, inside
    the SQLAlchemy connection's transaction (PostgreSQL only).

    For the hot path's reads SQLAlchemy's statement and result handling costs more than the
    query itself (50 rows a lead, ~0.2 ms of the interpreter each); psycopg then prepares
    the unchanging text on the server. Only statements whose errors need no translation go
    this way: the lead's insert, whose unique violations mean "a repeat", stays on
    SQLAlchemy.
    """

    __slots__ = ("_defaults", "_sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self._sql = str(compiled)
        self._defaults = dict(compiled.params)  # literals SQLAlchemy made parameters

    def run(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with ``params``; the rows, if the statement returns any."""
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute(self._sql, self._defaults | params, prepare=True)
            rows: list[tuple[Any, ...]] = cursor.fetchall() if cursor.description else []
        return rows


def _breakdown(match: Match) -> list[dict[str, Any]]:
    return [{"points": r.points, "text": r.text, "group": r.group} for r in match.score.breakdown]


def _lead_columns(lead: LeadInput) -> dict[str, Any]:
    return {
        "full_name": lead.full_name,
        "email": lead.email,
        "phone": lead.phone,
        "property_type": lead.property_type,
        "street_address": lead.street_address,
        "city": lead.city,
        "state": lead.state,
        "zip_code": lead.zip_code,
        "number_of_units": lead.number_of_units,
        "source": lead.source,
    }
