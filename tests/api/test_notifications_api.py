"""The inbox over HTTP: list with cursor and filters, counts, read, seen, clear."""

from __future__ import annotations

import pytest

from tests.api.conftest import Login
from tests.support.factories import SEED_LEAD, ApiClient


def fill(client: ApiClient, api_key: str, n: int) -> None:
    for i in range(n):
        body = SEED_LEAD | {"unique_id": f"N{i}"}
        assert (
            client.post("/api/leads", json=body, headers={"X-Api-Key": api_key}).status_code == 201
        )


def test_the_inbox_flow(client: ApiClient, api_key: str, pm: Login) -> None:
    fill(client, api_key, 3)
    page = client.get("/api/notifications", params={"limit": 2}, headers=pm.headers).json()
    assert len(page["items"]) == 2 and page["unread_count"] == 3
    item = page["items"][0]
    assert item["payload"]["notification_id"] == item["id"]
    assert item["title"] == "🔥 High-Value Lead!"
    rest = client.get(
        "/api/notifications", params={"before": page["next_cursor"]}, headers=pm.headers
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None

    read = client.post(f"/api/notifications/{item['id']}/read", headers=pm.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    counts = client.get("/api/notifications/unread-count", headers=pm.headers).json()
    assert counts == {"unread_count": 2, "unseen_count": 2}
    unread = client.get("/api/notifications", params={"read": "false"}, headers=pm.headers)
    assert len(unread.json()["items"]) == 2
    excellent = client.get("/api/notifications", params={"tier": "excellent"}, headers=pm.headers)
    assert len(excellent.json()["items"]) == 3

    assert client.post("/api/notifications/seen-all", headers=pm.headers).json() == {"updated": 2}
    assert client.post("/api/notifications/read-all", headers=pm.headers).json() == {"updated": 2}
    assert client.post("/api/notifications/clear", headers=pm.headers).json() == {"updated": 3}
    assert client.get("/api/notifications", headers=pm.headers).json()["items"] == []


def test_read_all_clears_both_counts_without_seen_all_first(
    client: ApiClient, api_key: str, pm: Login
) -> None:
    fill(client, api_key, 1)
    counts = "/api/notifications/unread-count"
    assert client.get(counts, headers=pm.headers).json() == {"unread_count": 1, "unseen_count": 1}
    assert client.post("/api/notifications/read-all", headers=pm.headers).json() == {"updated": 1}
    assert client.get(counts, headers=pm.headers).json() == {"unread_count": 0, "unseen_count": 0}
    [item] = client.get("/api/notifications", headers=pm.headers).json()["items"]
    assert item["read_at"] is not None and item["seen_at"] == item["read_at"]


def test_catching_up_on_more_than_a_page(client: ApiClient, api_key: str, pm: Login) -> None:
    fill(client, api_key, 5)
    every = sorted(
        i["id"] for i in client.get("/api/notifications", headers=pm.headers).json()["items"]
    )
    query: dict[str, int | str] = {"after": every[0], "limit": 2}
    seen: list[int] = []
    while True:
        page = client.get("/api/notifications", params=query, headers=pm.headers).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        query["before"] = page["next_cursor"]
    assert seen == every[:0:-1]


def test_another_pms_notification_is_404(
    client: ApiClient, api_key: str, pm: Login, other_pm: Login
) -> None:
    fill(client, api_key, 1)
    mine = client.get("/api/notifications", headers=pm.headers).json()["items"]
    theirs = client.get("/api/notifications", headers=other_pm.headers).json()["items"]
    assert mine and theirs and mine[0]["id"] != theirs[0]["id"]
    response = client.post(f"/api/notifications/{mine[0]['id']}/read", headers=other_pm.headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        ("GET /api/notifications?limit=0", 422),
        ("GET /api/notifications?limit=101", 422),
        ("GET /api/notifications?before=-5", 422),
        ("GET /api/notifications?tier=gold", 422),
        ("GET /api/notifications?read=maybe", 422),
        ("POST /api/notifications/1000000000000/read", 404),
        ("POST /api/notifications/abc/read", 422),
    ],
)
def test_bad_requests(client: ApiClient, pm: Login, request_line: str, status: int) -> None:
    method, path = request_line.split(" ")
    response = client.request(method, path, headers=pm.headers)
    assert response.status_code == status
    assert "error" in response.json()


def test_only_pms_have_an_inbox(client: ApiClient, admin: Login) -> None:
    assert client.get("/api/notifications").status_code == 401
    assert client.get("/api/notifications", headers=admin.headers).status_code == 403
