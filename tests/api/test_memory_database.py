"""``DATABASE_URL=sqlite://``: one in-memory database that every thread of the API shares.

SQLAlchemy's default for an in-memory SQLite URL gives each thread its own connection, and so
its own empty database: ``leadcast up`` migrated in one thread and then answered the first
login with a 500 ("no such table: users") from a worker thread. These tests run the API's
worker threads, several at once, against one migrated in-memory database, and then
``leadcast up`` itself, as a user starts it.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
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
from tests.support.factories import SEED_LEAD, accounts, make_pm

START_TIMEOUT = 60.0  # seconds for `leadcast up` to migrate, create the demo data and listen
BANNER = re.compile(r"is up: listening on (?P<url>http://[\d.]+:\d+)")
ADMIN = re.compile(r"^\s+(?P<email>admin@\S+)\s+password\s+(?P<password>\S+)")


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_leadcast_up_serves_logins_from_an_in_memory_database(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUSHER_", "LEADCAST_", "BROADCAST_")) and k != "DATABASE_URL"
    }
    env.update(DATABASE_URL="sqlite://", BROADCAST_DRIVER="null", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "leadcast", "up", "--no-realtime", "--host", "127.0.0.1"]
    command += ["--port", str(_free_port()), "--dashboard-dir", str(tmp_path)]
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
        reader.start()
        try:
            url, email, password = _wait_for_banner(lines, process)
            with httpx.Client(base_url=url, timeout=30) as api:
                login = api.post("/api/auth/login", json={"email": email, "password": password})
                assert login.status_code == 200, login.text
                headers = {"Authorization": f"Bearer {login.json()['token']}"}
                assert api.get("/api/leads", headers=headers).json()["total"] == 0
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            reader.join(10)
    assert not any("Traceback" in line for line in lines), "".join(lines)


def _wait_for_banner(lines: list[str], process: subprocess.Popen[str]) -> tuple[str, str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        text = list(lines)
        url = next((m["url"] for line in text if (m := BANNER.search(line))), None)
        admin = next((m for line in text if (m := ADMIN.match(line))), None)
        if url is not None and admin is not None:
            return url, admin["email"], admin["password"]
        time.sleep(0.1)
    pytest.fail(f"leadcast up did not start (exit {process.poll()}):\n{''.join(lines)}")
