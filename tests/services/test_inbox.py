"""The notification inbox: cursor pages, filters, counts, read / seen / cleared."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, update

from leadcast.db.models import NotificationRow, OutboxMessage
from leadcast.services.distribution import Distributor
from leadcast.services.errors import InvalidInput, NotFound
from leadcast.services.inbox import Inbox
from leadcast.services.intake import LeadInput
from tests.support.factories import SEED_LEAD, make_pm


def fill(engine: Engine, n: int) -> None:
    """Submit ``n`` leads, alternately excellent (the seed's) and fair (1 unit, no contact)."""
    distributor = Distributor(engine)
    seed = {k: v for k, v in SEED_LEAD.items() if k != "unique_id"}
    fair = {k: v for k, v in seed.items() if k not in ("email", "source")} | {"number_of_units": 1}
    for i in range(n):
        distributor.submit(LeadInput.parse(seed if i % 2 == 0 else fair))


@pytest.fixture
def pm_id(engine: Engine) -> int:
    return make_pm(engine, "pm@example.com", max_units=2000).id


def test_every_broadcast_has_an_inbox_item_with_the_same_payload(
    engine: Engine, pm_id: int
) -> None:
    fill(engine, 1)
    [item] = Inbox(engine).list(pm_id)["items"]
    with engine.connect() as connection:
        data = connection.scalar(select(OutboxMessage.data))
    assert data is not None
    assert item["payload"] == json.loads(data)
    assert item["title"] == item["payload"]["notification"]["title"]
    assert item["id"] == item["payload"]["notification_id"]
    assert (item["read_at"], item["seen_at"]) == (None, None)


def test_cursor_pages_newest_first(engine: Engine, pm_id: int) -> None:
    fill(engine, 5)
    inbox = Inbox(engine)
    first = inbox.list(pm_id, limit=2)
    ids = [i["id"] for i in first["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    second = inbox.list(pm_id, limit=2, before=int(first["next_cursor"]))
    third = inbox.list(pm_id, limit=2, before=int(second["next_cursor"]))
    every = ids + [i["id"] for i in second["items"]] + [i["id"] for i in third["items"]]
    assert len(set(every)) == 5 and third["next_cursor"] is None
    newer = inbox.list(pm_id, after=every[2])
    assert [i["id"] for i in newer["items"]] == every[:2]
    assert first["unread_count"] == 5 and first["unseen_count"] == 5


def test_a_gap_larger_than_a_page_is_paged_with_after_and_before(
    engine: Engine, pm_id: int
) -> None:
    fill(engine, 7)
    inbox = Inbox(engine)
    every = sorted(i["id"] for i in inbox.list(pm_id)["items"])
    known = every[1]  # the client has everything up to here; five are missing
    pages, before = [], None
    while True:
        page = inbox.list(pm_id, after=known, before=before, limit=2)
        pages.append([i["id"] for i in page["items"]])
        if page["next_cursor"] is None:
            break
        before = int(page["next_cursor"])
        if len(pages) == 1:
            fill(engine, 1)  # arrives meanwhile: newer than the first page, not in this gap
    assert pages == [[every[6], every[5]], [every[4], every[3]], [every[2]]]
    newest = inbox.list(pm_id, after=every[6])["items"]
    assert len(newest) == 1 and newest[0]["id"] > every[6]


def test_filters_by_read_state_and_tier(engine: Engine, pm_id: int) -> None:
    fill(engine, 4)
    inbox = Inbox(engine)
    items = inbox.list(pm_id)["items"]
    tiers = {i["tier"] for i in items}
    assert len(tiers) == 2
    for tier in tiers:
        assert {i["tier"] for i in inbox.list(pm_id, tier=tier)["items"]} == {tier}
    read = inbox.mark_read(pm_id, items[0]["id"])
    assert read["read_at"] is not None and read["seen_at"] is not None
    assert [i["id"] for i in inbox.list(pm_id, read=True)["items"]] == [items[0]["id"]]
    assert len(inbox.list(pm_id, read=False)["items"]) == 3
    assert inbox.counts(pm_id) == {"unread_count": 3, "unseen_count": 3}
    again = inbox.mark_read(pm_id, items[0]["id"])
    assert again["read_at"] == read["read_at"]


def test_mark_all_read_seen_and_clear(engine: Engine, pm_id: int) -> None:
    fill(engine, 3)
    inbox = Inbox(engine)
    assert inbox.mark_all_seen(pm_id) == 3
    assert inbox.counts(pm_id) == {"unread_count": 3, "unseen_count": 0}
    assert inbox.mark_all_read(pm_id) == 3
    assert inbox.mark_all_read(pm_id) == 0
    assert inbox.counts(pm_id) == {"unread_count": 0, "unseen_count": 0}
    fill(engine, 1)
    assert inbox.counts(pm_id)["unread_count"] == 1
    assert inbox.clear_all(pm_id) == 4
    assert inbox.list(pm_id)["items"] == []
    assert inbox.counts(pm_id) == {"unread_count": 0, "unseen_count": 0}


def test_mark_all_read_marks_seen_too(engine: Engine, pm_id: int) -> None:
    fill(engine, 2)
    inbox = Inbox(engine)
    assert inbox.counts(pm_id) == {"unread_count": 2, "unseen_count": 2}
    assert inbox.mark_all_read(pm_id) == 2
    assert inbox.counts(pm_id) == {"unread_count": 0, "unseen_count": 0}
    items = inbox.list(pm_id)["items"]
    assert all(i["read_at"] is not None and i["seen_at"] == i["read_at"] for i in items)


def test_mark_all_read_also_sees_items_read_but_never_seen(engine: Engine, pm_id: int) -> None:
    fill(engine, 2)
    inbox = Inbox(engine)
    first = inbox.list(pm_id)["items"][0]["id"]
    # A row read before reading implied seeing (older data).
    with engine.begin() as connection:
        connection.execute(
            update(NotificationRow)
            .where(NotificationRow.id == first)
            .values(read_at=datetime(2024, 1, 1, tzinfo=UTC))
        )
    assert inbox.counts(pm_id) == {"unread_count": 1, "unseen_count": 2}
    assert inbox.mark_all_read(pm_id) == 1
    assert inbox.counts(pm_id) == {"unread_count": 0, "unseen_count": 0}
    [kept] = [i for i in inbox.list(pm_id)["items"] if i["id"] == first]
    assert kept["read_at"] == "2024-01-01T00:00:00.000000Z"


def test_one_pm_cannot_touch_anothers_inbox(engine: Engine, pm_id: int) -> None:
    other = make_pm(engine, "other@example.com", zips=("90210",)).id
    fill(engine, 2)
    inbox = Inbox(engine)
    item = inbox.list(pm_id)["items"][0]
    with pytest.raises(NotFound):
        inbox.mark_read(other, item["id"])
    assert inbox.mark_all_read(other) == 0
    assert inbox.clear_all(other) == 0
    assert inbox.counts(pm_id)["unread_count"] == 2
    assert inbox.list(other)["items"] == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tier": "gold"}, "tier"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"before": -1}, "before"),
        ({"after": 2**64}, "after"),
    ],
)
def test_bad_queries_are_named(
    engine: Engine, pm_id: int, options: dict[str, int | str], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        Inbox(engine).list(pm_id, **options)  # type: ignore[arg-type]
    assert field in caught.value.fields
