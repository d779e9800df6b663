"""POST /api/leads (auth, validation, idempotency) and the PM's lead endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api.conftest import Login, Wakes, log_in
from tests.support.factories import SEED_LEAD, ApiClient, accounts, counts

NOTHING = {"leads": 0, "distributions": 0, "notifications": 0, "outbox": 0}


def submit(client: ApiClient, key: str, body: Any = None, **headers: str) -> Any:
    return client.post(
        "/api/leads",
        json=SEED_LEAD if body is None else body,
        headers={"X-Api-Key": key, **headers},
    )


def test_a_lead_source_submits_a_lead(
    client: ApiClient, engine: Engine, api_key: str, pm: Login, wakes: Wakes
) -> None:
    response = submit(client, api_key)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["recipients"] == 1 and body["status"] == "distributed"
    assert body["unique_id"] == "TEST-6543f1" and body["idempotent_replay"] is False
    assert counts(engine) == {"leads": 1, "distributions": 1, "notifications": 1, "outbox": 1}
    assert wakes.count == 1


@pytest.mark.parametrize("how", ["bearer-key", "admin-token"])
def test_other_ways_to_authenticate(
    client: ApiClient, api_key: str, admin: Login, pm: Login, how: str
) -> None:
    token = api_key if how == "bearer-key" else admin.token
    response = client.post(
        "/api/leads", json=SEED_LEAD, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Api-Key": "lck_unknown"}, 401),
        ({"X-Api-Key": "x" * 300}, 401),
        ({"Authorization": "Bearer lct_unknown"}, 401),
        ("pm", 403),
        ("revoked", 401),
    ],
)
def test_wrong_credentials_write_nothing(
    client: ApiClient, engine: Engine, pm: Login, api_key: str, headers: Any, status: int
) -> None:
    if headers == "pm":
        headers = pm.headers
    elif headers == "revoked":
        service = accounts(engine)
        service.revoke_api_key(service.api_key_for(api_key).id)
        headers = {"X-Api-Key": api_key}
    response = client.post("/api/leads", json=SEED_LEAD, headers=headers)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert counts(engine) == NOTHING


def without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in SEED_LEAD.items() if k not in names}


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        (b"{not json", 400, None),
        (b"\xff\xfe", 400, None),
        (b"[1, 2]", 422, {"body"}),
        (b'"a string"', 422, {"body"}),
        (without("name"), 422, {"full_name"}),
        (without("zipcode", "city"), 422, {"zip_code", "city"}),
        (SEED_LEAD | {"name": "x" * 201}, 422, {"full_name"}),
        (SEED_LEAD | {"email": "nope"}, 422, {"email"}),
        (SEED_LEAD | {"number_of_units": "lots"}, 422, {"number_of_units"}),
        (SEED_LEAD | {"property_type": "castle"}, 422, {"property_type"}),
        (SEED_LEAD | {"zipcode": "ABCDE"}, 422, {"zip_code"}),
        (SEED_LEAD | {"unique_id": "u" * 101}, 422, {"unique_id"}),
        (SEED_LEAD | {"is_admin": True}, 422, {"is_admin"}),
        (SEED_LEAD | {"full_name": "John Doe"}, 422, {"full_name"}),
        (SEED_LEAD | {"notes": "x" * 70_000}, 413, None),
    ],
)
def test_invalid_leads_are_refused_and_nothing_is_written(
    client: ApiClient,
    engine: Engine,
    api_key: str,
    pm: Login,
    body: Any,
    status: int,
    fields: set[str] | None,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        "/api/leads",
        content=content,
        headers={"X-Api-Key": api_key, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert isinstance(error["error"], str)
    if fields is not None:
        assert set(error["fields"]) == fields
        assert all(name in error["error"] for name in fields)
    assert counts(engine) == NOTHING


def test_an_over_long_idempotency_key_is_refused(
    client: ApiClient, engine: Engine, api_key: str
) -> None:
    response = submit(client, api_key, **{"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["fields"]
    assert counts(engine) == NOTHING


def test_a_retry_with_the_same_unique_id_is_200_and_distributes_nothing(
    client: ApiClient, engine: Engine, api_key: str, pm: Login, wakes: Wakes
) -> None:
    first = submit(client, api_key)
    again = submit(client, api_key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["idempotent_replay"] is True
    assert counts(engine)["distributions"] == 1 and wakes.count == 1
    changed = submit(client, api_key, SEED_LEAD | {"city": "Dallas"})
    assert changed.status_code == 409
    assert "different lead" in changed.json()["error"]
    assert counts(engine)["leads"] == 1


def test_the_idempotency_key_header(client: ApiClient, engine: Engine, api_key: str) -> None:
    body = without("unique_id")
    first = submit(client, api_key, body, **{"Idempotency-Key": "order-1"})
    again = submit(client, api_key, body, **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = submit(client, api_key, body | {"city": "Dallas"}, **{"Idempotency-Key": "order-1"})
    assert other.status_code == 409
    assert counts(engine)["leads"] == 1


def test_a_pm_works_a_lead(client: ApiClient, api_key: str, pm: Login) -> None:
    lead_id = submit(client, api_key).json()["id"]
    listing = client.get("/api/leads", headers=pm.headers).json()
    assert [item["id"] for item in listing["items"]] == [lead_id]
    assert "email" not in listing["items"][0]

    detail = client.get(f"/api/leads/{lead_id}", headers=pm.headers).json()
    assert detail["email"] == "test@websocket.com" and detail["status"] == "viewed"

    accepted = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "accepted"}, headers=pm.headers
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    invalid = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "won"}, headers=pm.headers
    )
    assert invalid.status_code == 409
    assert invalid.json()["error"] == (
        "cannot move a lead from accepted to won; allowed: contacted"
    )
    unknown = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "bogus"}, headers=pm.headers
    )
    assert unknown.status_code == 422 and "status" in unknown.json()["fields"]

    filtered = client.get(
        "/api/leads", params={"status": "accepted", "search": "john"}, headers=pm.headers
    ).json()
    assert filtered["total"] == 1


def test_leads_are_private_to_their_recipients(
    client: ApiClient, engine: Engine, api_key: str, pm: Login
) -> None:
    from tests.support.factories import make_pm

    stranger = make_pm(engine, "stranger@example.com", zips=("90210",))
    token = accounts(engine).login("stranger@example.com", "password123").token
    headers = {"Authorization": f"Bearer {token}"}
    lead_id = submit(client, api_key).json()["id"]
    assert client.get(f"/api/leads/{lead_id}", headers=headers).status_code == 404
    assert client.get("/api/leads", headers=headers).json()["items"] == []
    moved = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "declined"}, headers=headers
    )
    assert moved.status_code == 404
    assert stranger.id != pm.id


def test_an_admin_sees_every_lead(client: ApiClient, api_key: str, pm: Login, admin: Login) -> None:
    lead_id = submit(client, api_key).json()["id"]
    listing = client.get("/api/leads", headers=admin.headers).json()
    assert [item["id"] for item in listing["items"]] == [lead_id]
    detail = client.get(f"/api/leads/{lead_id}", headers=admin.headers).json()
    assert [d["pm_id"] for d in detail["distributions"]] == [pm.id]
    status = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "accepted"}, headers=admin.headers
    )
    assert status.status_code == 403


def test_the_property_type_filter_takes_intakes_spellings(
    client: ApiClient, engine: Engine, api_key: str
) -> None:
    from tests.support.factories import make_pm

    make_pm(engine, "multi@example.com", types=("multifamily", "single-family"), max_units=500)
    headers = {"Authorization": f"Bearer {log_in(engine, 'multi@example.com')}"}
    apartments = submit(
        client, api_key, SEED_LEAD | {"unique_id": "A", "property_type": "Apartments"}
    )
    house = submit(
        client, api_key, SEED_LEAD | {"unique_id": "H", "property_type": "Single Family"}
    )
    assert (apartments.status_code, house.status_code) == (201, 201)
    for spelling, expected in [
        ("Apartments", apartments),
        ("multi-family", apartments),
        ("Single Family", house),
        ("single-family", house),
    ]:
        listing = client.get("/api/leads", params={"property_type": spelling}, headers=headers)
        assert listing.status_code == 200, listing.text
        assert [item["id"] for item in listing.json()["items"]] == [expected.json()["id"]]


@pytest.mark.parametrize("who", ["pm", "admin"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("property_type=castle", "property_type"),
        ("tier=platinum", "tier"),
        ("status=lost-ish", "status"),
    ],
)
def test_unknown_filter_values_are_422_naming_the_parameter(
    client: ApiClient, api_key: str, pm: Login, admin: Login, who: str, query: str, field: str
) -> None:
    submit(client, api_key)
    headers = pm.headers if who == "pm" else admin.headers
    response = client.get(f"/api/leads?{query}", headers=headers)
    assert response.status_code == 422, response.text
    assert set(response.json()["fields"]) == {field}
    assert field in response.json()["error"]


def test_an_admin_filters_every_lead(
    client: ApiClient, api_key: str, pm: Login, admin: Login
) -> None:
    first = submit(client, api_key).json()["id"]
    second = submit(client, api_key, SEED_LEAD | {"unique_id": "2", "name": "Zed Quist"}).json()
    client.post(f"/api/leads/{first}/status", json={"status": "declined"}, headers=pm.headers)

    def ids(**params: str) -> list[int]:
        response = client.get("/api/leads", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [second["id"], first]
    assert ids(status="declined") == [first]
    assert ids(status="new") == [second["id"]]
    assert ids(search="quist") == [second["id"]]
    assert ids(property_type="Residences", tier="excellent") == [second["id"], first]
    assert ids(property_type="condo") == []
    assert ids(tier="fair") == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/leads/1000000000000", 404),
        ("/api/leads/0", 422),
        ("/api/leads/-1", 422),
        ("/api/leads/99999999999999999999999", 422),
        ("/api/leads/abc", 422),
        ("/api/leads?per_page=1000", 422),
        ("/api/leads?page=0", 422),
        ("/api/leads?tier=platinum", 422),
        ("/api/leads?status=lost-ish", 422),
        ("/api/leads?search=" + "x" * 101, 422),
    ],
)
def test_unknown_ids_and_bad_queries(client: ApiClient, pm: Login, path: str, status: int) -> None:
    response = client.get(path, headers=pm.headers)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_listing_needs_a_login(client: ApiClient, api_key: str) -> None:
    assert client.get("/api/leads").status_code == 401
    assert client.get("/api/leads", headers={"X-Api-Key": api_key}).status_code == 401
