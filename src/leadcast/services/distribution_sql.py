"""The SQL of distribution's hot path, built once (see ``services.distribution``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from leadcast.db.models import (
    Distribution,
    Lead,
    NotificationRow,
    OutboxMessage,
    PMCoverage,
    PMPreferences,
    UTCDateTime,
)

__all__ = [
    "COUNT_ASSIGNED",
    "INSERT_DISTRIBUTIONS",
    "INSERT_LEAD",
    "INSERT_NOTIFICATIONS",
    "INSERT_OUTBOX",
    "PG_INSERT_LEAD_AND_DISTRIBUTIONS",
    "PG_NOTIFY_QUEUE_AND_COUNT",
    "PROFILE_COLUMNS",
    "candidates_query",
    "lock_query",
]

PREFS = PMPreferences.__table__.c
PROFILE_COLUMNS = [
    PREFS[name]
    for name in (
        "user_id",
        "active",
        "min_units",
        "max_units",
        "daily_cap",
        "max_open_leads",
        "leads_today",
        "counted_on",
        "open_leads",
        "last_assigned_at",
    )
]


# Statements of the hot path, built once. RETURNING makes SQLAlchemy send each batch of rows
# as one multi-row INSERT ("insertmanyvalues") rather than one INSERT per row.
INSERT_LEAD = insert(Lead).returning(Lead.id)
INSERT_DISTRIBUTIONS = insert(Distribution).returning(Distribution.id, sort_by_parameter_order=True)
INSERT_NOTIFICATIONS = insert(NotificationRow).returning(NotificationRow.id)
INSERT_OUTBOX = insert(OutboxMessage).returning(OutboxMessage.id)
COUNT_ASSIGNED = (
    update(PMPreferences)
    .where(PREFS.user_id.in_(bindparam("c_ids", expanding=True)))
    .values(
        leads_today=case(
            (PREFS.counted_on == bindparam("c_today"), PREFS.leads_today + 1),
            else_=literal(1),
        ),
        counted_on=bindparam("c_today"),
        open_leads=PREFS.open_leads + 1,
        last_assigned_at=bindparam("c_now", type_=UTCDateTime()),
    )
)


def candidates_query(*, with_units: bool, limited: bool) -> Select[Any]:
    """Candidates for a lead (bind ``c_zip``, ``c_type``, ``c_today``, ``c_units``, ``c_limit``).

    Limited, the fairest come first: fewest leads today, then longest since the last lead
    (never first), then the lower id, as the domain's own tie-break.
    """
    prefs = PREFS
    coverage = PMCoverage.__table__.c
    conditions = [
        # One index range: exactly the PMs serving both the lead's ZIP and its type.
        coverage.zip_code == bindparam("c_zip"),
        coverage.property_type == bindparam("c_type"),
        prefs.active.is_(True),
        # Pre-filters only (the domain decides): caps that are surely reached today.
        or_(prefs.max_open_leads.is_(None), prefs.open_leads < prefs.max_open_leads),
        or_(
            prefs.daily_cap.is_(None),
            and_(
                prefs.daily_cap > 0,
                or_(
                    prefs.counted_on.is_(None),
                    prefs.counted_on != bindparam("c_today"),
                    prefs.leads_today < prefs.daily_cap,
                ),
            ),
        ),
    ]
    if with_units:
        units = bindparam("c_units", type_=Integer())
        conditions.append(or_(prefs.min_units.is_(None), prefs.min_units <= units))
        conditions.append(or_(prefs.max_units.is_(None), prefs.max_units >= units))
    query = (
        select(*PROFILE_COLUMNS)
        .select_from(PMCoverage.__table__.join(PMPreferences, coverage.pm_id == prefs.user_id))
        .where(*conditions)
    )
    if not limited:
        return query
    today_count = case(
        (prefs.counted_on == bindparam("c_today"), prefs.leads_today), else_=literal(0)
    )
    return query.order_by(
        today_count, prefs.last_assigned_at.asc().nulls_first(), prefs.user_id
    ).limit(bindparam("c_limit", type_=Integer()))


def lock_query(*, postgres: bool) -> Select[Any]:
    """The chosen PMs' rows (bind ``c_ids``, a list), locked on PostgreSQL, in id order.

    On PostgreSQL the ids go as one array (``= ANY``), so the statement's text is the same
    for any number of them and stays prepared.
    """
    if postgres:
        ids = PREFS.user_id == any_(bindparam("c_ids", type_=ARRAY(Integer())))
        return select(*PROFILE_COLUMNS).where(ids).order_by(PREFS.user_id).with_for_update()
    return (
        select(*PROFILE_COLUMNS)
        .where(PREFS.user_id.in_(bindparam("c_ids", expanding=True)))
        .order_by(PREFS.user_id)
    )


# PostgreSQL only: the writes of a lead with recipients in two statements (round trips)
# instead of five. The rows go as one JSON array each (``:d_rows``, ``:n_rows``), taken apart
# in their order by ``jsonb_to_recordset``; the statements' text never changes, so psycopg
# prepares them on the server after a few uses.
PG_INSERT_LEAD_AND_DISTRIBUTIONS = text(
    """
WITH new_lead AS (
    INSERT INTO leads (
        full_name, email, phone, property_type, street_address, city, state, zip_code,
        number_of_units, source, submitted_by, unique_id, idempotency_key, request_hash,
        api_key_id, recipients, created_at
    ) VALUES (
        :full_name, :email, :phone, :property_type, :street_address, :city, :state, :zip_code,
        :number_of_units, :source, :submitted_by, :unique_id, :idempotency_key, :request_hash,
        :api_key_id, :recipients, :created_at
    ) RETURNING id
)
INSERT INTO distributions (
    lead_id, pm_id, score, tier, reasons, breakdown, status, created_at, updated_at
)
SELECT new_lead.id, d.pm_id, d.score, d.tier, d.reasons, d.breakdown, :status, :created_at,
    :created_at
FROM new_lead, ROWS FROM (
    jsonb_to_recordset(CAST(:d_rows AS jsonb))
        AS (pm_id bigint, score integer, tier text, reasons jsonb, breakdown jsonb)
) WITH ORDINALITY AS d(pm_id, score, tier, reasons, breakdown, ord)
ORDER BY d.ord
RETURNING lead_id, id, pm_id
"""
)
PG_NOTIFY_QUEUE_AND_COUNT = text(
    """
WITH rows AS (
    SELECT * FROM ROWS FROM (
        jsonb_to_recordset(CAST(:n_rows AS jsonb)) AS (
            id bigint, pm_id bigint, tier text, title text, message text, priority text,
            payload text, channel text
        )
    ) WITH ORDINALITY AS n(id, pm_id, tier, title, message, priority, payload, channel, ord)
), notified AS (
    INSERT INTO notifications (
        id, pm_id, lead_id, tier, title, message, priority, payload, created_at
    )
    SELECT id, pm_id, :lead_id, tier, title, message, priority, payload, :now
    FROM rows ORDER BY ord
), queued AS (
    INSERT INTO outbox (channel, event, data, created_at, attempts, next_attempt_at)
    SELECT channel, :event, payload, :now, 0, :now
    FROM rows ORDER BY ord
)
UPDATE pm_preferences SET
    leads_today = CASE WHEN counted_on = :today THEN leads_today + 1 ELSE 1 END,
    counted_on = :today,
    open_leads = open_leads + 1,
    last_assigned_at = :now
WHERE user_id = ANY(CAST(:pm_ids AS bigint[]))
"""
)
