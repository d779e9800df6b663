"""Admin routes: property managers, preferences, API keys; only for admins."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.api.conftest import Login
from tests.support.factories import SEED_LEAD, ApiClient, counts

NEW_PM = {
    "email": "casey@example.com",
    "password": "password123",
    "name": "Casey Management",
    "preferences": {
        "property_types": ["Multi-Family", "condo"],
        "service_zips": ["78701", "78702"],
        "min_units": 10,
        "max_units": 400,
        "daily_cap": 20,
    },
}


def test_create_list_update_a_pm(client: ApiClient, admin: Login) -> None:
    created = client.post("/api/admin/pms", json=NEW_PM, headers=admin.headers)
    assert created.status_code == 201, created.text
    pm = created.json()
    assert pm["preferences"] == {
        "active": True,
        "property_types": ["condo", "multifamily"],
        "service_zips": ["78701", "78702"],
        "min_units": 10,
        "max_units": 400,
        "daily_cap": 20,
        "max_open_leads": None,
    }
    listing = client.get("/api/admin/pms", headers=admin.headers).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == pm["id"]
    updated = client.patch(
        f"/api/admin/pms/{pm['id']}",
        json={"name": "Casey & Co", "preferences": {"daily_cap": None, "active": False}},
        headers=admin.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Casey & Co"
    assert updated.json()["preferences"]["daily_cap"] is None
    assert updated.json()["preferences"]["active"] is False
    assert updated.json()["preferences"]["min_units"] == 10
    fetched = client.get(f"/api/admin/pms/{pm['id']}", headers=admin.headers).json()
    assert fetched == updated.json()


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"email": "nope"}, 422, "email"),
        ({"password": "short"}, 422, "password"),
        ({"preferences": {"service_zips": ["1234"]}}, 422, "service_zips"),
        ({"preferences": {"property_types": ["castle"]}}, 422, "property_types"),
        ({"preferences": {"min_units": -1}}, 422, "preferences.min_units"),
        ({"preferences": {"colour": "red"}}, 422, "preferences.colour"),
        ({"preferences": {"service_zips": ["78701"] * 5001}}, 422, "preferences.service_zips"),
        ({"role": "admin"}, 422, "role"),
    ],
)
def test_invalid_pms_are_refused(
    client: ApiClient, admin: Login, changes: dict[str, object], status: int, field: str
) -> None:
    response = client.post("/api/admin/pms", json=NEW_PM | changes, headers=admin.headers)
    assert response.status_code == status, response.text
    assert field in response.json()["fields"]
    assert client.get("/api/admin/pms", headers=admin.headers).json()["total"] == 0


def test_a_taken_email_is_409(client: ApiClient, admin: Login) -> None:
    assert client.post("/api/admin/pms", json=NEW_PM, headers=admin.headers).status_code == 201
    again = client.post("/api/admin/pms", json=NEW_PM, headers=admin.headers)
    assert again.status_code == 409


@pytest.mark.parametrize(
    "path", ["/api/admin/pms/2000000000", "/api/admin/pms/0", "/api/admin/pms/x"]
)
def test_unknown_pms(client: ApiClient, admin: Login, path: str) -> None:
    assert client.get(path, headers=admin.headers).status_code in (404, 422)
    assert client.patch(path, json={"name": "x"}, headers=admin.headers).status_code in (404, 422)


def test_api_keys(client: ApiClient, engine: Engine, admin: Login) -> None:
    issued = client.post("/api/admin/api-keys", json={"name": "Website"}, headers=admin.headers)
    assert issued.status_code == 201
    key = issued.json()["key"]
    assert key.startswith("lck_") and issued.json()["prefix"] == key[:12]
    listing = client.get("/api/admin/api-keys", headers=admin.headers).json()
    assert [k["name"] for k in listing] == ["Website"] and "key" not in listing[0]
    submitted = client.post("/api/leads", json=SEED_LEAD, headers={"X-Api-Key": key})
    assert submitted.status_code == 201
    revoked = client.delete(f"/api/admin/api-keys/{issued.json()['id']}", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = client.post(
        "/api/leads", json=SEED_LEAD | {"unique_id": "other"}, headers={"X-Api-Key": key}
    )
    assert again.status_code == 401
    assert counts(engine)["leads"] == 1
    assert client.delete("/api/admin/api-keys/2000000000", headers=admin.headers).status_code == 404
    bad = client.post("/api/admin/api-keys", json={"name": ""}, headers=admin.headers)
    assert bad.status_code == 422 and "name" in bad.json()["fields"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/admin/pms"),
        ("POST", "/api/admin/pms"),
        ("GET", "/api/admin/api-keys"),
        ("POST", "/api/admin/api-keys"),
        ("DELETE", "/api/admin/api-keys/1"),
    ],
)
def test_admin_routes_are_for_admins(client: ApiClient, pm: Login, method: str, path: str) -> None:
    assert client.request(method, path, json={"name": "x"}).status_code == 401
    response = client.request(method, path, json={"name": "x"}, headers=pm.headers)
    assert response.status_code == 403
    assert response.json() == {"error": "admins only"}
