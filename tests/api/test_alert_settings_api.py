"""GET/PUT /api/me/preferences: the dashboard's alert settings, stored per user."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Login
from tests.support.factories import ApiClient

DEFAULTS = {"sound": False, "toast_min_tier": "fair", "desktop_notifications": False}
URL = "/api/me/preferences"


def test_defaults_until_saved(client: ApiClient, pm: Login, admin: Login) -> None:
    for user in (pm, admin):
        response = client.get(URL, headers=user.headers)
        assert response.status_code == 200
        assert response.json() == DEFAULTS


def test_partial_updates_merge_and_persist(client: ApiClient, pm: Login) -> None:
    saved = client.put(URL, json={"sound": True}, headers=pm.headers)
    assert saved.status_code == 200
    assert saved.json() == {**DEFAULTS, "sound": True}
    saved = client.put(URL, json={"toast_min_tier": "good"}, headers=pm.headers)
    assert saved.json() == {**DEFAULTS, "sound": True, "toast_min_tier": "good"}
    assert client.get(URL, headers=pm.headers).json() == {
        "sound": True,
        "toast_min_tier": "good",
        "desktop_notifications": False,
    }


def test_settings_belong_to_one_user(client: ApiClient, pm: Login, other_pm: Login) -> None:
    client.put(URL, json={"sound": True, "desktop_notifications": True}, headers=pm.headers)
    assert client.get(URL, headers=other_pm.headers).json() == DEFAULTS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sound": "yes"}, "sound"),
        ({"sound": 1}, "sound"),
        ({"toast_min_tier": "hot"}, "toast_min_tier"),
        ({"desktop_notifications": None, "volume": 11}, "volume"),
        ({"sound": True, "toast_min_tier": "excellent", "colour": "red"}, "colour"),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(
    client: ApiClient, pm: Login, body: dict[str, Any], field: str
) -> None:
    client.put(URL, json={"toast_min_tier": "excellent"}, headers=pm.headers)
    response = client.put(URL, json=body, headers=pm.headers)
    assert response.status_code == 422
    assert field in response.json()["fields"]
    assert client.get(URL, headers=pm.headers).json() == {
        **DEFAULTS,
        "toast_min_tier": "excellent",
    }


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"sound"'])
def test_malformed_bodies_change_nothing(client: ApiClient, pm: Login, raw: bytes) -> None:
    response = client.put(
        URL, content=raw, headers={**pm.headers, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert client.get(URL, headers=pm.headers).json() == DEFAULTS


def test_needs_a_valid_token(client: ApiClient, pm: Login) -> None:
    assert client.get(URL).status_code == 401
    assert client.put(URL, json={"sound": True}).status_code == 401
    bad = {"Authorization": "Bearer lct_not-a-token"}
    assert client.put(URL, json={"sound": True}, headers=bad).status_code == 401
    assert client.get(URL, headers=pm.headers).json() == DEFAULTS
