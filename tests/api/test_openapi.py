"""The OpenAPI document says what the API does, and typing the responses changed no byte.

Responses that gained a response model are compared byte for byte with the service's result
rendered as FastAPI rendered an untyped ``dict`` before (``json.dumps``, compact, UTF-8): the
dashboard (``dashboard/src/api.ts``) sees exactly what it saw.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from leadcast.services.inbox import Inbox
from leadcast.services.leads import LeadBook, LeadFilter
from tests.api.conftest import Login
from tests.support.factories import SEED_LEAD, ApiClient


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from leadcast.api import create_api
    from leadcast.config import Settings
    from leadcast.db import make_engine

    engine = make_engine("sqlite://")
    try:
        document: dict[str, Any] = create_api(
            Settings(broadcast_driver="null"), engine=engine
        ).openapi()
        return document
    finally:
        engine.dispose()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a ``$ref`` (or ``anyOf: [$ref, null]``) followed to its component."""
    if "anyOf" in schema:
        [schema] = [s for s in schema["anyOf"] if s.get("type") != "null"]
    if "$ref" in schema:
        found: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return found
    return schema


def response_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = spec["paths"][path][method]
    ok = operation["responses"].get("200") or operation["responses"]["201"]
    schema: dict[str, Any] = ok["content"]["application/json"]["schema"]
    return schema


def parameter(spec: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
    return resolve(spec, found["schema"])


def test_the_lead_submission_documents_aliases_and_refuses_unknown_fields(
    spec: dict[str, Any],
) -> None:
    body = spec["paths"]["/api/leads"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    properties = schema["properties"]
    for alias, field in (("name", "full_name"), ("zipcode", "zip_code")):
        assert properties[alias]["type"] == properties[field]["type"] == "string"
        assert properties[alias]["maxLength"] == properties[field]["maxLength"]
        assert f"`{field}`" in properties[alias]["description"]
        assert {"oneOf": [{"required": [field]}, {"required": [alias]}]} in schema["allOf"]
        assert field not in schema["required"]
    assert set(schema["required"]) == {"property_type", "city", "state"}
    assert "multifamily" in properties["property_type"]["description"]


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        (
            "/api/leads",
            "status",
            ["new", "viewed", "accepted", "declined", "contacted", "won", "lost"],
        ),
        ("/api/leads", "tier", ["excellent", "good", "fair"]),
        ("/api/notifications", "tier", ["excellent", "good", "fair"]),
    ],
)
def test_status_and_tier_parameters_are_enums(
    spec: dict[str, Any], path: str, name: str, values: list[str]
) -> None:
    assert parameter(spec, path, name)["enum"] == values


def test_every_lead_and_notification_response_has_a_model(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    detail = response_schema(spec, "get", "/api/leads/{lead_id}")
    assert {s["$ref"].rsplit("/", 1)[1] for s in detail["anyOf"]} == {
        "LeadDetail",
        "AdminLeadDetail",
    }
    changed = response_schema(spec, "post", "/api/leads/{lead_id}/status")
    assert changed["$ref"].endswith("/LeadDetail")
    read = response_schema(spec, "post", "/api/notifications/{notification_id}/read")
    assert read["$ref"].endswith("/NotificationOut")

    lead_detail = components["LeadDetail"]["properties"]
    assert {"email", "phone", "score_breakdown", "allowed_transitions"} <= set(lead_detail)
    assert lead_detail["score_breakdown"]["items"]["required"] == ["points", "text", "group"]
    assert resolve(spec, lead_detail["status"])["enum"][0] == "new"
    items = components["LeadPage"]["properties"]["items"]["items"]
    assert {s["$ref"].rsplit("/", 1)[1] for s in items["anyOf"]} == {"LeadItem", "AdminLeadItem"}
    assert {"user_lead_id", "status", "score"} <= set(components["LeadItem"]["required"])
    assert resolve(spec, components["NotificationOut"]["properties"]["tier"])["enum"] == [
        "excellent",
        "good",
        "fair",
    ]


def rendered(value: Any) -> bytes:
    """How FastAPI rendered an untyped ``dict`` (Starlette's ``JSONResponse``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_typed_responses_are_byte_for_byte_the_services_results(
    client: ApiClient, engine: Engine, api_key: str, pm: Login, admin: Login
) -> None:
    for n in range(2):
        body = SEED_LEAD | {"unique_id": f"B{n}"}
        assert client.post("/api/leads", json=body, headers={"X-Api-Key": api_key}).is_success
    book, inbox = LeadBook(engine), Inbox(engine)
    lead_id = book.list_for_pm(pm.id)["items"][0]["id"]

    detail = client.get(f"/api/leads/{lead_id}", headers=pm.headers)  # new → viewed
    assert detail.content == rendered(book.detail(pm.id, lead_id))
    changed = client.post(
        f"/api/leads/{lead_id}/status", json={"status": "accepted"}, headers=pm.headers
    )
    assert changed.content == rendered(book.detail(pm.id, lead_id))
    listing = client.get("/api/leads", params={"property_type": "Residential"}, headers=pm.headers)
    expected = book.list_for_pm(pm.id, LeadFilter(property_type="residential"))
    assert listing.content == rendered(expected)

    admin_detail = client.get(f"/api/leads/{lead_id}", headers=admin.headers)
    assert admin_detail.content == rendered(book.admin_detail(lead_id))
    assert client.get("/api/leads", headers=admin.headers).content == rendered(book.admin_list())

    notification_id = inbox.list(pm.id)["items"][0]["id"]
    read = client.post(f"/api/notifications/{notification_id}/read", headers=pm.headers)
    assert "🔥".encode() in read.content
    assert read.content == rendered(inbox.mark_read(pm.id, notification_id))
