"""``DATABASE_URL=sqlite://``: one in-memory database that every thread of the API shares.

SQLAlchemy's default for an in-memory SQLite URL gives each thread its own connection, and so
its own empty database: ``leadcast up`` migrated in one thread and then answered the first
login with a 500 ("no such table: users") from a worker thread. These tests run the API's
worker threads, several at once, against one migrated in-memory database, and then
``leadcast up`` itself, as a user starts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from leadcast.api import create_api
from leadcast.config import Settings
from leadcast.db import make_engine, migrate
from leadcast.db.models import ApiToken
from tests.e2e.leadcast_up import start_up
from tests.support.factories import SEED_LEAD, accounts, make_pm


@pytest.fixture
def memory_engine() -> Iterator[Engine]:
    made = make_engine("sqlite://")
    try:
        migrate(made)  # in this thread; the API's requests run in others
        yield made
    finally:
        made.dispose()


def test_worker_threads_see_the_migrated_database(memory_engine: Engine) -> None:
    make_pm(memory_engine, "avery@example.com")
    key = accounts(memory_engine).issue_api_key(name="Website").key
    app = create_api(Settings(broadcast_driver="null"), engine=memory_engine)

    async def scenario() -> tuple[list[int], list[int], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            logins = await asyncio.gather(
                *(
                    api.post(
                        "/api/auth/login",
                        json={"email": "avery@example.com", "password": "password123"},
                    )
                    for _ in range(4)
                )
            )
            leads = await asyncio.gather(
                *(
                    api.post(
                        "/api/leads",
                        json=SEED_LEAD | {"unique_id": f"M{n}"},
                        headers={"X-Api-Key": key},
                    )
                    for n in range(12)
                )
            )
            token = logins[0].json()["token"]
            page = await api.get("/api/leads", headers={"Authorization": f"Bearer {token}"})
            return (
                [r.status_code for r in logins],
                [r.status_code for r in leads],
                page.json()["total"],
            )

    logins, leads, total = asyncio.run(scenario())
    assert logins == [200] * 4
    assert leads == [201] * 12
    assert total == 12
    with memory_engine.connect() as connection:
        tokens = connection.scalar(select(func.count()).select_from(ApiToken))
    assert tokens == 4


def test_transactions_from_many_threads_take_turns(memory_engine: Engine) -> None:
    service = accounts(memory_engine)

    def create(n: int) -> int:
        return service.create_user(email=f"user{n}@example.com", password="password123").id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(40)))
    assert len(set(ids)) == 40
    assert len(service.list_pms(limit=500)) == 40


def test_leadcast_up_serves_logins_from_an_in_memory_database(tmp_path: Path) -> None:
    with start_up(
        "sqlite://",
        tmp_path,
        realtime=False,
        args=["--dashboard-dir", str(tmp_path)],
        env={"BROADCAST_DRIVER": "null"},
    ) as running:
        [admin] = [a for a in running.accounts.values() if a.email.startswith("admin@")]
        with httpx.Client(base_url=running.api_url, timeout=30) as api:
            credentials = {"email": admin.email, "password": admin.password}
            login = api.post("/api/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            assert api.get("/api/leads", headers=headers).json()["total"] == 0
        running.stop(timeout=15)
    assert "Traceback" not in running.output.text, running.log()
