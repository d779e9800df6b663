"""The ``leadcast`` command line, run in process: ``outbox``.

Each database test runs on a SQLite file and on PostgreSQL through a plain ``postgresql://``
URL (a fresh database on the session's server when the shared fixtures are registered, else
on one of ``tests.support.postgres.postgres_url()``), given in ``DATABASE_URL`` as a user
would. Exit status 0 on success, 2 on a usage or input error, with the reason on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from leadcast.cli import main
from leadcast.db import make_engine
from leadcast.db.models import OutboxMessage
from leadcast.relay import Relay, RelayOptions
from tests.relay.stub_pusher import stub_pusher
from tests.support.postgres import PostgresUnavailable, postgres_url, unavailable

# -- databases -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL on a PostgreSQL server that may create databases."""
    try:
        shared = request.getfixturevalue("postgres_database")
    except pytest.FixtureLookupError:
        shared = None
    if isinstance(shared, PostgresUnavailable):
        unavailable(str(shared))
    if isinstance(shared, str):
        yield shared
        return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_url())
        except PostgresUnavailable as error:
            unavailable(str(error))
        yield url


@contextlib.contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A new empty database; its URL with the plain ``postgresql://`` scheme."""
    name = f"leadcast_cli_{secrets.token_hex(6)}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(server_url).set(drivername="postgresql", database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database (not migrated), named by ``DATABASE_URL``."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'cli.db'}"
        else:
            url = stack.enter_context(fresh_postgres(request.getfixturevalue("postgres_server")))
            assert url.startswith("postgresql://")
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    try:
        yield made
    finally:
        made.dispose()


def has_users_table(engine: Engine) -> bool:
    with engine.connect() as connection:
        return engine.dialect.has_table(connection, "users")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``argv`` is refused by the argument parser (exit 2); its message."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


# -- outbox ----------------------------------------------------------------------------


def migrated(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "migrate")[0] == 0


def outbox_rows(engine: Engine, count: int, *, failed: int = 0) -> list[int]:
    """``count`` rows written a minute ago; the first ``failed`` of them failed."""
    moment = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as connection:
        ids = [
            connection.execute(
                insert(OutboxMessage).returning(OutboxMessage.id),
                {
                    "channel": f"private-property-manager.{n}",
                    "event": "lead.distributed",
                    "data": json.dumps({"notification_id": n}),
                    "created_at": moment,
                    "attempts": 0,
                    "next_attempt_at": moment,
                },
            ).scalar_one()
            for n in range(count)
        ]
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[:failed]))
            .values(failed_at=moment, attempts=1, last_error="HTTP 400 from /apps/1/events: bad")
        )
    return ids


def failed_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        found = connection.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.failed_at.is_not(None))
            .order_by(OutboxMessage.id)
        )
        return list(found)


def test_outbox_status(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    migrated(capsys)
    ids = outbox_rows(engine, 3, failed=1)
    status, out, err = run(capsys, "outbox", "status")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "pending   2, the oldest written 1 min 0 s ago"
    assert lines[1].startswith("failed    1 (requeue with `leadcast outbox retry")
    assert lines[2] == "last errors:"
    assert lines[3].startswith(f"  #{ids[0]} lead.distributed on private-property-manager.0,")
    assert lines[3].endswith("HTTP 400 from /apps/1/events: bad")


def test_outbox_retry_requeues_and_the_row_is_then_delivered(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(capsys)
    ids = outbox_rows(engine, 3, failed=2)
    status, out, err = run(capsys, "outbox", "retry", "--id", str(ids[0]))
    assert (status, err) == (0, "")
    assert out == "requeued 1 failed row(s); a running relay sends them on its next poll\n"
    assert failed_ids(engine) == [ids[1]]

    async def relay_round() -> int:
        broadcaster = stub.broadcaster()
        try:
            return await Relay(engine, broadcaster, RelayOptions()).run_once()
        finally:
            await broadcaster.aclose()

    with stub_pusher() as stub:
        assert asyncio.run(relay_round()) == 2  # the requeued row and the pending one
        assert sorted(e.channel for e in stub.delivered) == [
            "private-property-manager.0",
            "private-property-manager.2",
        ]
    assert failed_ids(engine) == [ids[1]]


def test_outbox_retry_all_failed(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    migrated(capsys)
    outbox_rows(engine, 4, failed=3)
    assert run(capsys, "outbox", "retry", "--all-failed")[1].startswith("requeued 3 failed row")
    assert failed_ids(engine) == []
    assert run(capsys, "outbox", "retry", "--all-failed")[1].startswith("requeued 0 failed row")


def test_outbox_retry_of_rows_that_are_not_failed_changes_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(capsys)
    ids = outbox_rows(engine, 2, failed=1)
    status, out, err = run(
        capsys, "outbox", "retry", "--id", str(ids[0]), str(ids[1]), "--id", "999999"
    )
    assert (status, out) == (2, "")
    assert err == (
        f"leadcast outbox retry: error: not failed, so not requeued: {ids[1]} (pending), "
        "999999 (no such row); nothing was changed\n"
    )
    assert failed_ids(engine) == [ids[0]]


def test_outbox_needs_a_migrated_database(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["outbox", "status"], ["outbox", "retry", "--all-failed"]):
        status, out, err = run(capsys, *argv)
        assert (status, out) == (2, "")
        assert "the database is not at the newest schema: run `leadcast migrate`" in err
    assert not has_users_table(engine)


def test_outbox_retry_needs_ids_or_all_failed(capsys: pytest.CaptureFixture[str]) -> None:
    message = usage_error(capsys, "outbox", "retry")
    assert "one of the arguments --id --all-failed is required" in message
    message = usage_error(capsys, "outbox", "retry", "--id", "1", "--all-failed")
    assert "not allowed with argument --id" in message
    assert "invalid int value" in usage_error(capsys, "outbox", "retry", "--id", "x")


def test_outbox_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["outbox", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "LEADCAST_RELAY_GIVE_UP_AFTER" in shown and "status" in shown and "retry" in shown
