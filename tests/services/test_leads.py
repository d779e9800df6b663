"""The PM's leads: lists, filters, detail with contact data, and status transitions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from leadcast.services.distribution import Distributor
from leadcast.services.errors import InvalidInput, InvalidTransition, NotFound
from leadcast.services.intake import LeadInput
from leadcast.services.leads import TRANSITIONS, LeadBook, LeadFilter, Status
from tests.support.factories import SEED_LEAD, accounts, make_pm


def submit(engine: Engine, **changes: Any) -> int:
    data = {k: v for k, v in SEED_LEAD.items() if k != "unique_id"} | changes
    return Distributor(engine).submit(LeadInput.parse(data)).lead_id


@pytest.fixture
def pm_id(engine: Engine) -> int:
    return make_pm(engine, "pm@example.com", types=("residential", "condo")).id


def test_a_pm_lists_their_leads_newest_first(engine: Engine, pm_id: int) -> None:
    first = submit(engine, name="Ann Lee")
    second = submit(engine, name="Bo Chen", property_type="condo", number_of_units=3)
    page = LeadBook(engine).list_for_pm(pm_id)
    assert [item["id"] for item in page["items"]] == [second, first]
    assert (page["total"], page["page"], page["per_page"]) == (2, 1, 20)
    item = page["items"][1]
    assert item["full_name"] == "Ann Lee" and item["status"] == "new"
    assert set(item["score"]) == {"score", "tier", "badge", "reasons"}
    assert "email" not in item and "phone" not in item


def test_filters_and_search(engine: Engine, pm_id: int) -> None:
    ann = submit(engine, name="Ann Lee", street_address="1 Congress Ave")
    bo = submit(engine, name="Bo Chen", property_type="condo", number_of_units=2)
    book = LeadBook(engine)

    def ids(**filters: Any) -> list[int]:
        return [i["id"] for i in book.list_for_pm(pm_id, LeadFilter(**filters))["items"]]

    assert ids(property_type="condo") == [bo]
    assert ids(search="congress") == [ann]
    assert ids(search="CHEN") == [bo]
    assert ids(search="100%") == []
    assert ids(search="78701") == [bo, ann]
    tier_of_ann = book.detail(pm_id, ann)["score"]["tier"]
    assert ann in ids(tier=tier_of_ann)
    assert ids(status="viewed") == [ann]
    assert ids(status="new") == [bo]


@pytest.fixture
def multi_pm_id(engine: Engine) -> int:
    types = ("multifamily", "single-family")
    return make_pm(engine, "multi@example.com", types=types, max_units=500).id


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("multifamily", "multifamily"),
        ("Apartments", "multifamily"),
        ("  Multi Family ", "multifamily"),
        ("multi-family", "multifamily"),
        ("Single Family", "single-family"),
        ("SFR", "single-family"),
    ],
)
def test_the_property_type_filter_takes_the_spellings_intake_takes(
    engine: Engine, multi_pm_id: int, spelling: str, canonical: str
) -> None:
    apartments = submit(engine, property_type="Apartments", number_of_units=40)
    house = submit(engine, property_type="single family home", number_of_units=1)
    book = LeadBook(engine)
    page = book.list_for_pm(multi_pm_id, LeadFilter(property_type=spelling))
    expected = apartments if canonical == "multifamily" else house
    assert [i["id"] for i in page["items"]] == [expected]
    assert page["items"][0]["property_type"] == canonical
    assert [i["id"] for i in book.admin_list(LeadFilter(property_type=spelling))["items"]] == [
        expected
    ]


def test_a_blank_property_type_filter_means_any(engine: Engine, multi_pm_id: int) -> None:
    submit(engine, property_type="multifamily", number_of_units=40)
    assert LeadBook(engine).list_for_pm(multi_pm_id, LeadFilter(property_type="  "))["total"] == 1


def test_admins_filter_every_lead(engine: Engine, pm_id: int) -> None:
    other = make_pm(engine, "other@example.com", types=("condo",)).id
    ann = submit(engine, name="Ann Lee")  # residential: pm_id only
    bo = submit(engine, name="Bo Chen", property_type="condo", number_of_units=2)  # both PMs
    book = LeadBook(engine)
    book.change_status(other, bo, "declined")

    def ids(**filters: Any) -> list[int]:
        return [i["id"] for i in book.admin_list(LeadFilter(**filters))["items"]]

    assert ids() == [bo, ann]
    assert ids(property_type="Condominium") == [bo]
    assert ids(search="lee") == [ann]
    assert ids(status="declined") == [bo]
    assert ids(status="new") == [bo, ann]  # bo is still new for pm_id
    assert ids(status="accepted") == []
    tiers = {d["tier"] for d in book.admin_detail(bo)["distributions"]}
    for tier in ("excellent", "good", "fair"):
        expected = [bo] if tier in tiers else []
        if tier == book.admin_detail(ann)["distributions"][0]["tier"]:
            expected.append(ann)
        assert ids(tier=tier) == expected
    page = book.admin_list(LeadFilter(status="new"), per_page=1)
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [bo]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (LeadFilter(status="lost-ish"), "status"),
        (LeadFilter(tier="platinum"), "tier"),
        (LeadFilter(property_type="castle"), "property_type"),
    ],
)
def test_bad_admin_filters_are_named(
    engine: Engine, pm_id: int, filters: LeadFilter, field: str
) -> None:
    submit(engine)
    with pytest.raises(InvalidInput) as caught:
        LeadBook(engine).admin_list(filters)
    assert set(caught.value.fields) == {field}


def test_pages(engine: Engine, pm_id: int) -> None:
    ids = [submit(engine, name=f"Lead {n}") for n in range(5)]
    page = LeadBook(engine).list_for_pm(pm_id, page=2, per_page=2)
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    assert page["total"] == 5


@pytest.mark.parametrize(
    ("filters", "paging", "field"),
    [
        (LeadFilter(status="lost-ish"), {}, "status"),
        (LeadFilter(tier="platinum"), {}, "tier"),
        (LeadFilter(search="x" * 101), {}, "search"),
        (LeadFilter(property_type="castle"), {}, "property_type"),
        (LeadFilter(property_type="x" * 41), {}, "property_type"),
        (LeadFilter(), {"page": 0}, "page"),
        (LeadFilter(), {"per_page": 101}, "per_page"),
    ],
)
def test_bad_filters_are_named(
    engine: Engine, pm_id: int, filters: LeadFilter, paging: dict[str, int], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        LeadBook(engine).list_for_pm(pm_id, filters, **paging)
    assert field in caught.value.fields


def test_the_detail_has_contact_data_and_marks_the_lead_viewed(engine: Engine, pm_id: int) -> None:
    lead_id = submit(engine, phone="+1 512 555 0100")
    detail = LeadBook(engine).detail(pm_id, lead_id)
    assert (detail["email"], detail["phone"]) == ("test@websocket.com", "+1 512 555 0100")
    assert detail["status"] == "viewed" and detail["viewed_at"] is not None
    assert detail["allowed_transitions"] == ["accepted", "declined"]
    assert sum(r["points"] for r in detail["score_breakdown"]) >= detail["score"]["score"]
    assert accounts(engine).get_pm(pm_id).open_leads == 1


def test_another_pm_cannot_see_the_lead(engine: Engine, pm_id: int) -> None:
    other = make_pm(engine, "other@example.com", zips=("90210",)).id
    lead_id = submit(engine)
    book = LeadBook(engine)
    with pytest.raises(NotFound):
        book.detail(other, lead_id)
    with pytest.raises(NotFound):
        book.change_status(other, lead_id, "accepted")
    assert book.list_for_pm(other)["items"] == []
    with pytest.raises(NotFound):
        book.detail(pm_id, 10**12)


def test_the_whole_workflow(engine: Engine, pm_id: int) -> None:
    lead_id = submit(engine)
    book = LeadBook(engine)
    for status in ("viewed", "accepted", "contacted", "won"):
        assert book.change_status(pm_id, lead_id, status)["status"] == status
    detail = book.detail(pm_id, lead_id)
    assert detail["allowed_transitions"] == []
    assert all(detail[k] for k in ("viewed_at", "responded_at", "contacted_at", "closed_at"))
    assert accounts(engine).get_pm(pm_id).open_leads == 0


PATHS: dict[Status, list[str]] = {
    Status.NEW: [],
    Status.VIEWED: ["viewed"],
    Status.ACCEPTED: ["accepted"],
    Status.DECLINED: ["declined"],
    Status.CONTACTED: ["accepted", "contacted"],
    Status.WON: ["accepted", "contacted", "won"],
    Status.LOST: ["accepted", "contacted", "lost"],
}


def test_transitions_follow_the_table(engine: Engine, pm_id: int) -> None:
    book = LeadBook(engine)
    checked = 0
    for start in Status:
        for target in Status:
            lead_id = submit(engine, name=f"{start} to {target}")
            for step in PATHS[start]:
                book.change_status(pm_id, lead_id, step)
            if target in TRANSITIONS[start]:
                assert book.change_status(pm_id, lead_id, target)["status"] == target
            else:
                with pytest.raises(
                    InvalidTransition, match=f"cannot move a lead from {start} to {target}"
                ):
                    book.change_status(pm_id, lead_id, target)
            checked += 1
    assert checked == len(Status) ** 2
    # Open = new or viewed: each start state was reached once per target, plus the moves.
    open_leads = sum(
        1
        for start in Status
        for target in Status
        if (target if target in TRANSITIONS[start] else start) in (Status.NEW, Status.VIEWED)
    )
    assert accounts(engine).get_pm(pm_id).open_leads == open_leads


def test_unknown_statuses_are_invalid_input(engine: Engine, pm_id: int) -> None:
    lead_id = submit(engine)
    with pytest.raises(InvalidInput) as caught:
        LeadBook(engine).change_status(pm_id, lead_id, "promoted")
    assert "status" in caught.value.fields


def test_admins_see_every_lead_with_its_distributions(engine: Engine, pm_id: int) -> None:
    lead_id = submit(engine)
    book = LeadBook(engine)
    page = book.admin_list()
    assert [i["id"] for i in page["items"]] == [lead_id]
    detail = book.admin_detail(lead_id)
    assert detail["email"] == "test@websocket.com"
    assert [d["pm_id"] for d in detail["distributions"]] == [pm_id]
    with pytest.raises(NotFound):
        book.admin_detail(10**12)
