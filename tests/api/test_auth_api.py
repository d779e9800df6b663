"""Login, logout, /api/me, the OpenAPI docs, and JSON errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from leadcast.api import create_api
from leadcast.config import Settings
from leadcast.services.throttle import LoginLimits, MemoryLoginThrottle
from tests.api.conftest import Login
from tests.support.factories import ApiClient


def test_login_returns_a_token_and_the_user(client: ApiClient, pm: Login) -> None:
    response = client.post(
        "/api/auth/login", json={"email": "avery@example.com", "password": "password123"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("lct_")
    assert body["user"] == {
        "id": pm.id,
        "email": "avery@example.com",
        "name": "avery",
        "role": "pm",
        "created_at": body["user"]["created_at"],
    }
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["id"] == pm.id
    assert me.json()["preferences"]["service_zips"] == ["78701"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "avery@example.com", "password": "wrong-password"}, 401),
        ({"email": "nobody@example.com", "password": "password123"}, 401),
        ({"email": "avery@example.com"}, 422),
        ({"email": "x" * 255, "password": "password123"}, 422),
        ({"email": "avery@example.com", "password": "p", "extra": 1}, 422),
    ],
)
def test_bad_logins(client: ApiClient, pm: Login, body: dict[str, object], status: int) -> None:
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == status
    assert "error" in response.json()
    if status == 401:
        assert response.json() == {"error": "wrong email or password"}
        assert response.headers["www-authenticate"] == "Bearer"


@dataclass
class Seconds:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def login_body(password: str, email: str = "avery@example.com") -> dict[str, str]:
    return {"email": email, "password": password}


def test_the_login_limits_come_from_the_settings(
    engine: Engine, settings: Settings, pm: Login
) -> None:
    strict = replace(settings, login_attempts_per_email=2)
    with ApiClient(create_api(strict, engine=engine)) as api:
        codes = [
            api.post("/api/auth/login", json=login_body("wrong-password")).status_code
            for _ in range(3)
        ]
    assert codes == [401, 401, 429]


def test_the_sixth_failed_login_is_429_until_the_window_passes(
    engine: Engine, settings: Settings, pm: Login, other_pm: Login
) -> None:
    clock = Seconds()
    throttle = MemoryLoginThrottle(clock=clock)
    with ApiClient(create_api(settings, engine=engine, login_throttle=throttle)) as api:
        for _ in range(5):
            assert api.post("/api/auth/login", json=login_body("wrong-password")).status_code == 401
            clock.now += 1
        for password in ("wrong-password", "password123"):
            refused = api.post("/api/auth/login", json=login_body(password))
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == str(15 * 60 - 5)
            assert refused.json() == {"error": "too many failed logins: try again in 895 seconds"}
        other = api.post("/api/auth/login", json=login_body("password123", "blake@example.com"))
        assert other.status_code == 200
        clock.now += 894
        assert api.post("/api/auth/login", json=login_body("password123")).status_code == 429
        clock.now += 1
        assert api.post("/api/auth/login", json=login_body("password123")).status_code == 200
        # The success reset the email's count: five more failures before the next 429.
        for _ in range(5):
            assert api.post("/api/auth/login", json=login_body("wrong-password")).status_code == 401
        assert api.post("/api/auth/login", json=login_body("password123")).status_code == 429


def test_failed_logins_are_also_counted_per_client_address(
    engine: Engine, settings: Settings, pm: Login
) -> None:
    throttle = MemoryLoginThrottle(LoginLimits(per_client=3), clock=Seconds())
    app = create_api(settings, engine=engine, login_throttle=throttle)

    async def log_in(address: str, email: str, password: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            return await api.post("/api/auth/login", json=login_body(password, email))

    async def scenario() -> list[int]:
        statuses = [
            (await log_in("192.0.2.1", f"guess{n}@example.com", "password123")).status_code
            for n in range(3)
        ]
        statuses.append((await log_in("192.0.2.1", "avery@example.com", "password123")).status_code)
        statuses.append((await log_in("192.0.2.2", "avery@example.com", "password123")).status_code)
        return statuses

    assert asyncio.run(scenario()) == [401, 401, 401, 429, 200]


def test_malformed_json_is_400(client: ApiClient) -> None:
    response = client.post(
        "/api/auth/login", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "malformed JSON"}


def test_logout_revokes_the_token(client: ApiClient, pm: Login) -> None:
    assert client.post("/api/auth/logout", headers=pm.headers).status_code == 204
    assert client.get("/api/me", headers=pm.headers).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer lct_not-a-real-token"},
        {"Authorization": "Bearer " + "x" * 5000},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_me_needs_a_valid_token(client: ApiClient, headers: dict[str, str]) -> None:
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_an_admin_is_a_plain_user(client: ApiClient, admin: Login) -> None:
    body = client.get("/api/me", headers=admin.headers).json()
    assert body["role"] == "admin" and "preferences" not in body


def test_openapi_docs_are_served(client: ApiClient) -> None:
    spec = client.get("/api/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/auth/login",
        "/api/leads",
        "/api/leads/{lead_id}",
        "/api/notifications",
        "/api/broadcasting/auth",
        "/api/realtime-config",
        "/api/admin/pms",
        "/api/admin/api-keys",
    ):
        assert path in paths, path
    submit = paths["/api/leads"]["post"]
    assert "Idempotent" in submit["description"]
    schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert {"full_name", "zip_code", "unique_id"} <= set(schema["properties"])
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_unknown_paths_are_json_404(client: ApiClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/admin/pms", "/api/leads"])
def test_every_body_is_capped(client: ApiClient, api_key: str, path: str) -> None:
    headers = {"Content-Type": "application/json", "X-Api-Key": api_key}
    big = b'{"email": "' + b"a" * 70_000 + b'"}'
    declared = client.post(path, content=big, headers=headers)
    assert declared.status_code == 413
    assert declared.json() == {"error": "request body over 65536 bytes"}

    async def chunks() -> Any:
        for _ in range(20):
            yield b"a" * 4096

    streamed = client.post(path, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert "error" in streamed.json()


def test_without_an_engine_the_app_makes_and_disposes_its_own(tmp_path: Path) -> None:
    import asyncio

    from leadcast.api import create_api
    from leadcast.config import Settings
    from leadcast.db import migrate

    url = f"sqlite:///{tmp_path / 'own.db'}"
    migrate(url)
    app = create_api(Settings(database_url=url, broadcast_driver="null"))

    async def scenario() -> int:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get("/api/leads")).status_code

    assert asyncio.run(scenario()) == 401
