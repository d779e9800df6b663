"""Distribution: who gets a lead, what is recorded in one transaction, idempotency, caps."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select

from leadcast.db.models import Distribution, NotificationRow, OutboxMessage, PMCoverage
from leadcast.leads.model import DistributionConfig
from leadcast.services.distribution import Distributor
from leadcast.services.errors import IdempotencyConflict, InvalidInput
from leadcast.services.intake import LeadInput
from leadcast.services.leads import LeadBook
from tests.support.factories import SEED_LEAD, FakeClock, accounts, counts, make_pm

SEED = LeadInput.parse(SEED_LEAD)


def lead(**changes: Any) -> LeadInput:
    data = {k: v for k, v in SEED_LEAD.items() if k != "unique_id"}
    return LeadInput.parse(data | changes)


def outbox(engine: Engine) -> list[OutboxMessage]:
    with engine.connect() as connection:
        rows = connection.execute(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [OutboxMessage(**row._mapping) for row in rows]


def test_the_seed_lead_is_broadcast_with_exactly_the_seed_payload(engine: Engine) -> None:
    pm = make_pm(engine, "avery@example.com", min_units=50, max_units=150)
    clock = FakeClock()
    result = Distributor(engine, clock=clock).submit(SEED)
    assert result.created and result.recipients == 1

    [row] = outbox(engine)
    assert row.channel == f"private-property-manager.{pm.id}"
    assert row.event == "lead.distributed"
    assert row.sent_at is None and row.attempts == 0
    payload = json.loads(row.data)
    with engine.connect() as connection:
        distribution_id = connection.scalar(select(Distribution.id))
        notification_id = connection.scalar(select(NotificationRow.id))
    assert payload["lead"] == {
        "id": result.lead_id,
        "user_lead_id": distribution_id,
        "property_type": "residential",
        "street_address": None,
        "city": "Austin",
        "state": "TX",
        "zip_code": "78701",
        "number_of_units": 100,
        "full_name": "John Doe",
        "created_at": "2024-11-04T10:30:00.000000Z",
        "status": "new",
    }
    assert payload["notification"] == {
        "title": "🔥 High-Value Lead!",
        "message": "New residential property in Austin, TX",
        "priority": "high",
    }
    assert payload["notification_id"] == notification_id
    score = payload["score"]
    assert set(score) == {"score", "tier", "badge", "reasons"}
    assert score["tier"] == "excellent" and score["score"] >= 80
    assert score["badge"] == {"text": "🔥 High Value", "color": "red", "priority": "high"}
    assert "Matches your preferred property types" in score["reasons"]
    assert "In your target service area" in score["reasons"]
    assert set(payload) == {"lead", "score", "notification", "notification_id"}
    assert "websocket.com" not in row.data and "email" not in row.data
    assert "phone" not in row.data


def test_only_eligible_pms_receive_it(engine: Engine) -> None:
    eligible = make_pm(engine, "a@example.com")
    make_pm(engine, "other-zip@example.com", zips=("78702",))
    make_pm(engine, "other-type@example.com", types=("commercial",))
    make_pm(engine, "small@example.com", max_units=10)
    make_pm(engine, "inactive@example.com", active=False)
    make_pm(engine, "capped@example.com", daily_cap=0)
    Distributor(engine).submit(SEED)
    assert [row.channel for row in outbox(engine)] == [f"private-property-manager.{eligible.id}"]


def test_changed_service_areas_and_types_route_the_next_lead(engine: Engine) -> None:
    """Candidates come from the ZIP × type coverage index, which follows every change."""
    mover = make_pm(engine, "mover@example.com", zips=("78702",), types=("commercial",))
    stayer = make_pm(engine, "stayer@example.com", zips=("78701", "78702"))
    channel = {pm.id: f"private-property-manager.{pm.id}" for pm in (mover, stayer)}
    distributor = Distributor(engine)

    distributor.submit(lead(zipcode="78701"))
    assert [row.channel for row in outbox(engine)] == [channel[stayer.id]]

    accounts(engine).update_pm(
        mover.id, changes={"service_zips": ("78701",), "property_types": ("residential",)}
    )
    accounts(engine).update_pm(stayer.id, changes={"service_zips": ("78702",)})
    distributor.submit(lead(zipcode="78701", street_address="2 Main St"))
    assert [row.channel for row in outbox(engine)][1:] == [channel[mover.id]]

    with engine.connect() as connection:
        cells = connection.execute(
            select(PMCoverage.pm_id, PMCoverage.zip_code, PMCoverage.property_type).order_by(
                PMCoverage.pm_id
            )
        ).all()
    assert [tuple(cell) for cell in cells] == [
        (mover.id, "78701", "residential"),
        (stayer.id, "78702", "residential"),
    ]


def test_at_most_n_recipients_best_scores_first(engine: Engine) -> None:
    sweet = make_pm(engine, "sweet@example.com", min_units=50, max_units=150)
    pms = [make_pm(engine, f"pm{i}@example.com") for i in range(4)]
    config = DistributionConfig(max_recipients=3)
    result = Distributor(engine, config).submit(SEED)
    assert result.recipients == 3
    with engine.connect() as connection:
        rows = connection.execute(
            select(Distribution.pm_id, Distribution.score).order_by(Distribution.score.desc())
        ).all()
    assert rows[0].pm_id == sweet.id
    assert {r.pm_id for r in rows[1:]} <= {pm.id for pm in pms}
    assert counts(engine) == {"leads": 1, "distributions": 3, "notifications": 3, "outbox": 3}


def test_equal_scores_rotate_fairly(engine: Engine) -> None:
    first = make_pm(engine, "first@example.com")
    second = make_pm(engine, "second@example.com")
    clock = FakeClock()
    distributor = Distributor(engine, DistributionConfig(max_recipients=1), clock=clock)
    receivers = []
    for n in range(4):
        clock.advance(1)
        distributor.submit(lead(unique_id=f"L{n}"))
        receivers.append(outbox(engine)[-1].channel.rsplit(".", 1)[1])
    assert receivers == [str(first.id), str(second.id), str(first.id), str(second.id)]


def test_the_daily_cap_holds_and_resets_the_next_day(engine: Engine) -> None:
    pm = make_pm(engine, "capped@example.com", daily_cap=2)
    clock = FakeClock()
    distributor = Distributor(engine, clock=clock)
    got = [distributor.submit(lead(unique_id=f"L{n}")).recipients for n in range(3)]
    assert got == [1, 1, 0]
    assert accounts(engine, clock=clock).get_pm(pm.id).leads_today == 2
    clock.advance(24 * 3600)
    assert accounts(engine, clock=clock).get_pm(pm.id).leads_today == 0
    assert distributor.submit(lead(unique_id="L3")).recipients == 1


def test_max_open_leads_counts_new_and_viewed_only(engine: Engine) -> None:
    pm = make_pm(engine, "busy@example.com", max_open_leads=1)
    distributor = Distributor(engine)
    first = distributor.submit(lead(unique_id="L1"))
    assert distributor.submit(lead(unique_id="L2")).recipients == 0
    LeadBook(engine).change_status(pm.id, first.lead_id, "accepted")
    assert distributor.submit(lead(unique_id="L3")).recipients == 1
    view = accounts(engine).get_pm(pm.id)
    assert (view.open_leads, view.leads_today) == (1, 2)
    assert view.last_assigned_at is not None


def test_a_lead_nobody_takes_is_stored_without_broadcasts(engine: Engine) -> None:
    woken: list[int] = []
    result = Distributor(engine, on_commit=lambda: woken.append(1)).submit(SEED)
    assert (result.created, result.recipients) == (True, 0)
    assert result.as_dict()["status"] == "unmatched"
    assert counts(engine) == {"leads": 1, "distributions": 0, "notifications": 0, "outbox": 0}
    assert woken == []


def test_on_commit_runs_after_the_commit(engine: Engine) -> None:
    make_pm(engine, "a@example.com")
    seen: list[int] = []
    distributor = Distributor(engine, on_commit=lambda: seen.append(len(outbox(engine))))
    distributor.submit(SEED)
    assert seen == [1]


def test_a_repeated_unique_id_returns_the_same_lead_and_distributes_nothing(
    engine: Engine,
) -> None:
    make_pm(engine, "a@example.com")
    woken: list[int] = []
    distributor = Distributor(engine, on_commit=lambda: woken.append(1))
    first = distributor.submit(SEED)
    again = distributor.submit(LeadInput.parse(SEED_LEAD))
    assert (again.lead_id, again.created, again.recipients) == (first.lead_id, False, 1)
    assert again.created_at == first.created_at
    assert counts(engine) == {"leads": 1, "distributions": 1, "notifications": 1, "outbox": 1}
    assert woken == [1]


def test_a_reused_unique_id_with_another_payload_is_a_conflict(engine: Engine) -> None:
    make_pm(engine, "a@example.com")
    distributor = Distributor(engine)
    distributor.submit(SEED)
    before = counts(engine)
    with pytest.raises(IdempotencyConflict):
        distributor.submit(LeadInput.parse(SEED_LEAD | {"number_of_units": 7}))
    assert counts(engine) == before


def test_the_idempotency_key_makes_a_retry_safe(engine: Engine) -> None:
    make_pm(engine, "a@example.com")
    distributor = Distributor(engine)
    first = distributor.submit(lead(), idempotency_key="req-1")
    again = distributor.submit(lead(), idempotency_key="req-1")
    assert (again.lead_id, again.created) == (first.lead_id, False)
    other = distributor.submit(lead(), idempotency_key="req-2")
    assert other.created and other.lead_id != first.lead_id
    before = counts(engine)
    with pytest.raises(IdempotencyConflict):
        distributor.submit(lead(city="Dallas"), idempotency_key="req-1")
    assert counts(engine) == before


def test_unique_ids_and_idempotency_keys_belong_to_their_submitter(engine: Engine) -> None:
    """Two lead sources may both send their own "TEST-6543f1"; each repeat finds its own."""
    make_pm(engine, "a@example.com")
    service = accounts(engine)
    source_a = service.issue_api_key(name="source a").view.id
    source_b = service.issue_api_key(name="source b").view.id
    distributor = Distributor(engine)

    by_a = distributor.submit(SEED, api_key_id=source_a)
    by_b = distributor.submit(SEED, api_key_id=source_b)
    by_admin = distributor.submit(SEED)
    assert by_a.created and by_b.created and by_admin.created
    assert len({by_a.lead_id, by_b.lead_id, by_admin.lead_id}) == 3
    keyed_a = distributor.submit(lead(), idempotency_key="req-1", api_key_id=source_a)
    keyed_b = distributor.submit(lead(), idempotency_key="req-1", api_key_id=source_b)
    assert keyed_a.created and keyed_b.created and keyed_a.lead_id != keyed_b.lead_id
    before = counts(engine)

    again = distributor.submit(SEED, api_key_id=source_b)
    assert (again.lead_id, again.created) == (by_b.lead_id, False)
    assert distributor.submit(SEED).lead_id == by_admin.lead_id
    retried = distributor.submit(lead(), idempotency_key="req-1", api_key_id=source_a)
    assert (retried.lead_id, retried.created) == (keyed_a.lead_id, False)
    with pytest.raises(IdempotencyConflict):
        distributor.submit(LeadInput.parse(SEED_LEAD | {"city": "Dallas"}), api_key_id=source_a)
    assert counts(engine) == before


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\there"])
def test_malformed_idempotency_keys_are_refused(engine: Engine, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Distributor(engine).submit(lead(), idempotency_key=key)
    assert "Idempotency-Key" in caught.value.fields
    assert counts(engine)["leads"] == 0


def test_concurrent_leads_never_exceed_a_daily_cap(engine: Engine) -> None:
    pm = make_pm(engine, "capped@example.com", daily_cap=5)
    distributor = Distributor(engine)
    start = threading.Barrier(8)

    def submit(n: int) -> int:
        if n < 8:
            start.wait()
        return distributor.submit(lead(unique_id=f"C{n}")).recipients

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(submit, range(24)))
    assert sum(results) == 5
    assert accounts(engine).get_pm(pm.id).leads_today == 5
    assert counts(engine)["distributions"] == 5


def test_concurrent_repeats_of_one_lead_create_it_once(engine: Engine) -> None:
    make_pm(engine, "a@example.com")
    distributor = Distributor(engine)
    start = threading.Barrier(6)

    def submit(_: int) -> tuple[int, bool]:
        start.wait()
        result = distributor.submit(LeadInput.parse(SEED_LEAD))
        return result.lead_id, result.created

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(submit, range(6)))
    assert len({lead_id for lead_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert counts(engine) == {"leads": 1, "distributions": 1, "notifications": 1, "outbox": 1}


def test_large_pools_score_the_fairest_candidates_only(engine: Engine) -> None:
    sweet = make_pm(engine, "sweet@example.com", min_units=50, max_units=150)
    plain = make_pm(engine, "plain@example.com")
    clock = FakeClock()
    one = DistributionConfig(max_recipients=1)
    everyone = Distributor(engine, one, candidate_limit=None, clock=clock)
    fairest = Distributor(engine, one, candidate_limit=1, clock=clock)

    def receiver(distributor: Distributor, n: int) -> str:
        clock.advance(1)
        distributor.submit(lead(unique_id=f"P{n}"))
        return outbox(engine)[-1].channel.rsplit(".", 1)[1]

    # Every candidate scored: the better match wins again and again.
    assert [receiver(everyone, n) for n in range(2)] == [str(sweet.id)] * 2
    # Only the fairest scored: whoever has had fewer leads today is the candidate.
    assert receiver(fairest, 2) == str(plain.id)


def test_the_candidate_limit_must_cover_the_recipients(engine: Engine) -> None:
    with pytest.raises(ValueError, match="candidate_limit"):
        Distributor(engine, DistributionConfig(max_recipients=5), candidate_limit=4)
