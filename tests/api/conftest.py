"""API fixtures: an in-process client on each database, with users and credentials.

The shared database fixtures are registered as one plugin rather than imported here, so
the session-scoped PostgreSQL server is started once for every test directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

import tests.support.fixtures as shared
from leadcast.api import create_api
from leadcast.config import Settings
from tests.support.factories import ApiClient, accounts, make_admin, make_pm

KEY, SECRET = "test-key", "test-secret"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(shared):
        config.pluginmanager.register(shared, "leadcast-db-fixtures")


@dataclass
class Wakes:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


@dataclass(frozen=True)
class Login:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def settings() -> Settings:
    return Settings(
        broadcast_driver="pusher",
        pusher_app_id="test-app",
        pusher_app_key=KEY,
        pusher_app_secret=SECRET,
        pusher_host="127.0.0.1",
        pusher_port=6001,
        pusher_scheme="http",
    )


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def client(engine: Engine, settings: Settings, wakes: Wakes) -> Iterator[ApiClient]:
    with ApiClient(create_api(settings, engine=engine, on_commit=wakes)) as api:
        yield api


def log_in(engine: Engine, email: str) -> str:
    return accounts(engine).login(email, "password123").token


@pytest.fixture
def admin(engine: Engine) -> Login:
    user = make_admin(engine)
    return Login(user.id, log_in(engine, user.email))


@pytest.fixture
def pm(engine: Engine) -> Login:
    user = make_pm(engine, "avery@example.com", min_units=50, max_units=150)
    return Login(user.id, log_in(engine, user.email))


@pytest.fixture
def other_pm(engine: Engine) -> Login:
    user = make_pm(engine, "blake@example.com", zips=("78701", "78702"))
    return Login(user.id, log_in(engine, user.email))


@pytest.fixture
def api_key(engine: Engine) -> str:
    return accounts(engine).issue_api_key(name="Website").key
