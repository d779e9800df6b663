"""Builders and fakes for the service, API and relay tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from leadcast.db.models import Distribution, Lead, NotificationRow, OutboxMessage
from leadcast.relay.broadcasters import BroadcastError, OutgoingEvent
from leadcast.services.accounts import Accounts
from leadcast.services.profiles import Preferences, Role, UserView
from leadcast.services.security import ScryptParams

FAST_SCRYPT = ScryptParams(n=16, r=1, p=1)
"""Cheap password hashes for tests (the format and code path are the real ones)."""

SEED_LEAD: dict[str, Any] = {
    "unique_id": "TEST-6543f1",
    "name": "John Doe",
    "email": "test@websocket.com",
    "property_type": "residential",
    "number_of_units": 100,
    "zipcode": "78701",
    "city": "Austin",
    "state": "TX",
    "source": "website",
}
"""The lead of the seed's ``php artisan tinker`` example, with its field spellings."""


def accounts(engine: Engine, **options: Any) -> Accounts:
    return Accounts(engine, scrypt=FAST_SCRYPT, **options)


def make_pm(
    engine: Engine,
    email: str,
    *,
    zips: Iterable[str] = ("78701",),
    types: Iterable[str] = ("residential",),
    **limits: Any,
) -> UserView:
    """A PM serving ``zips`` for ``types`` (password ``password123``)."""
    preferences = Preferences(property_types=tuple(types), service_zips=tuple(zips), **limits)
    return accounts(engine).create_user(
        email=email, password="password123", name=email.split("@")[0], preferences=preferences
    )


def make_admin(engine: Engine, email: str = "admin@example.com") -> UserView:
    return accounts(engine).create_user(email=email, password="password123", role=Role.ADMIN)


def counts(engine: Engine) -> dict[str, int]:
    """Rows in the tables a submission writes."""
    with engine.connect() as connection:
        return {
            model.__tablename__: connection.scalar(select(func.count()).select_from(model)) or 0
            for model in (Lead, Distribution, NotificationRow, OutboxMessage)
        }


@dataclass
class FakeClock:
    """A settable clock for the services (timezone-aware)."""

    now: datetime = field(default_factory=lambda: datetime(2024, 11, 4, 10, 30, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingBroadcaster:
    """Records what it is asked to publish; can fail the first ``failures`` calls."""

    failures: int = 0
    retryable: bool = True
    delay: float = 0.0
    events: list[OutgoingEvent] = field(default_factory=list)
    calls: int = 0
    closed: bool = False

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            raise BroadcastError("simulated outage", retryable=self.retryable)
        self.events.extend(events)

    async def aclose(self) -> None:
        self.closed = True


class ApiClient:
    """A synchronous client for an ASGI app, in process (``httpx.ASGITransport``).

    (Starlette's ``TestClient`` warns about its httpx dependency, and warnings are errors.)
    """

    def __init__(self, app: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def patch(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PATCH", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
