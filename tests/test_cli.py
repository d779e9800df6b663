"""The ``leadcast`` command line, run in process: ``users create``, ``outbox``, ``realtime``.

Each database test runs on a SQLite file and on PostgreSQL through a plain ``postgresql://``
URL (a fresh database on the session's server when the shared fixtures are registered, else
on one of ``tests.support.postgres.postgres_url()``), given in ``DATABASE_URL`` as a user
would. Exit status 0 on success, 2 on a usage or input error, with the reason on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, update

from leadcast.cli import main
from leadcast.db import make_engine
from leadcast.db.models import OutboxMessage, User
from leadcast.relay import Relay, RelayOptions
from leadcast.services.accounts import Accounts
from leadcast.services.profiles import Preferences
from tests.relay.stub_pusher import stub_pusher
from tests.support import postgres

PASSWORD = "correct horse battery"

# -- databases -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL on a PostgreSQL server that may create databases."""
    with postgres.server_url(request) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database (not migrated), named by ``DATABASE_URL``."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'cli.db'}"
        else:
            server = request.getfixturevalue("postgres_server")
            fresh = postgres.fresh_database(server, prefix="leadcast_cli", drivername="postgresql")
            url = stack.enter_context(fresh)
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


def users(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(User)) or 0


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


# -- users create ----------------------------------------------------------------------

EVERY_PM_FLAG = [
    "--property-types", "residential, Apartments",
    "--zips", "78702,78701",
    "--min-units", "10",
    "--max-units", "200",
    "--daily-cap", "20",
    "--max-open-leads", "5",
]  # fmt: skip


def test_users_create_a_pm_with_every_flag(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys,
        "users", "create", "--email", "Avery@Example.com", "--password", PASSWORD,
        "--name", "Avery Residential", *EVERY_PM_FLAG,
    )  # fmt: skip
    assert (status, err) == (0, "")
    accounts = Accounts(engine)
    user = accounts.login("avery@example.com", PASSWORD).user
    assert out == f"created pm avery@example.com (id {user.id})\n"
    assert user.name == "Avery Residential"
    assert accounts.get_pm(user.id).preferences == Preferences(
        active=True,
        property_types=("multifamily", "residential"),
        service_zips=("78701", "78702"),
        min_units=10,
        max_units=200,
        daily_cap=20,
        max_open_leads=5,
    )


def test_users_create_an_admin(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "users", "create", "--email", "root@example.com", "--password", PASSWORD, "--admin"
    )
    assert (status, err) == (0, "")
    user = Accounts(engine).login("root@example.com", PASSWORD).user
    assert user.is_admin and out == f"created admin root@example.com (id {user.id})\n"


def test_users_create_reads_the_password_from_stdin(
    engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\r\nnot this line\n"))
    status, out, _ = run(
        capsys, "users", "create", "--email", "casey@example.com", "--password-stdin"
    )
    assert status == 0 and out.startswith("created pm casey@example.com")
    assert Accounts(engine).login("casey@example.com", PASSWORD).user.email == "casey@example.com"


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_an_empty_password_on_stdin_is_refused(
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status, out, err = run(
        capsys, "users", "create", "--email", "casey@example.com", "--password-stdin"
    )
    assert (status, out) == (2, "")
    assert err == (
        "leadcast users create: error: "
        "--password-stdin: no password on the first line of standard input\n"
    )


def test_exactly_one_way_of_giving_the_password(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    both = usage_error(
        capsys, "users", "create", "--email", "a@example.com", "--password", PASSWORD,
        "--password-stdin",
    )  # fmt: skip
    assert "--password-stdin: not allowed with argument --password" in both
    neither = usage_error(capsys, "users", "create", "--email", "a@example.com")
    assert "one of the arguments --password --password-stdin is required" in neither


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--zips", "78701,7870"], "service_zips: not a five-digit ZIP code: '7870'"),
        (["--property-types", "castle"], "property_types: unknown property type 'castle'"),
        (["--min-units", "300", "--max-units", "200"], "max_units: must not be below min_units"),
        (["--daily-cap", "-1"], "daily_cap: must be a whole number from 0 to"),
        (["--password", "short"], "password: must be 8-256 characters long"),
    ],
)
def test_users_create_refuses_bad_input_and_writes_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    argv = ["users", "create", "--email", "bad@example.com", "--password", PASSWORD, *flags]
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith("leadcast users create: error: ")
    assert message in err
    assert users(engine) == 0


def test_users_create_refuses_a_duplicate_email(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(capsys, "users", "create", "--email", "dup@example.com", "--password", PASSWORD)[0] == 0
    )
    status, out, err = run(
        capsys, "users", "create", "--email", "DUP@example.com", "--password", "other password"
    )
    assert (status, out) == (2, "")
    assert err == "leadcast users create: error: a user with email dup@example.com already exists\n"
    assert users(engine) == 1
    Accounts(engine).login("dup@example.com", PASSWORD)  # the first password still works


def test_admin_with_pm_preferences_is_refused_before_anything_is_written(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys,
        "users", "create", "--email", "root@example.com", "--password", PASSWORD, "--admin",
        "--zips", "78701", "--daily-cap", "3", "--min-units", "0",
    )  # fmt: skip
    assert (status, out) == (2, "")
    assert err == (
        "leadcast users create: error: "
        "--admin takes no PM preferences, leave out --zips, --min-units, --daily-cap\n"
    )
    assert not has_users_table(engine)  # refused before even migrating


def test_users_create_help_explains_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "create", "--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--password-stdin read the password from the first line of standard input" in shown
    assert "an admin instead of a PM (takes none of the below)" in shown


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


# -- realtime refuses to start ---------------------------------------------------------


@pytest.fixture
def pusher_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PUSHER_* or LEADCAST_APPS_FILE from the caller's environment."""
    for name in ("PUSHER_APP_ID", "PUSHER_APP_KEY", "PUSHER_APP_SECRET", "LEADCAST_APPS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# An out-of-range port as well: should the apps be accepted by mistake, the command still
# stops (on the port) instead of serving for ever.
REALTIME = ["realtime", "--port", "70000"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET"),
        ({"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k"}, "missing PUSHER_APP_SECRET"),
        (
            {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "   "},
            "missing PUSHER_APP_SECRET",
        ),
        (
            {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "bad key", "PUSHER_APP_SECRET": "s"},
            "PUSHER_APP_*: key must be 1-100 of A-Z a-z 0-9 _ . -",
        ),
        (
            {"PUSHER_APP_ID": "1/2", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "s"},
            "PUSHER_APP_*: id must be",
        ),
        (
            {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "has space"},
            "PUSHER_APP_*: secret must be 1-200 printable characters, no spaces",
        ),
    ],
)
def test_realtime_refuses_missing_or_malformed_credentials(
    pusher_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        pusher_env.setenv(name, value)
    status, out, err = run(capsys, *REALTIME)
    assert (status, out) == (2, "")
    assert err.startswith("leadcast realtime: error: ")
    assert message in err
    assert "--port" not in err


def test_realtime_refuses_an_unreadable_apps_file(
    pusher_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path in (tmp_path / "missing.toml", tmp_path):
        status, out, err = run(capsys, *REALTIME, "--apps-file", str(path))
        assert (status, out) == (2, "")
        assert f"leadcast realtime: error: cannot read apps file {path}: " in err
    pusher_env.setenv("LEADCAST_APPS_FILE", str(tmp_path / "from-env.toml"))
    status, _, err = run(capsys, *REALTIME)
    assert status == 2 and "cannot read apps file" in err and "from-env.toml" in err


def test_realtime_refuses_a_malformed_apps_file(
    pusher_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "apps.toml"
    broken.write_text("[[apps]\nid = 1\n")
    status, _, err = run(capsys, *REALTIME, "--apps-file", str(broken))
    assert status == 2 and f"{broken}: invalid TOML" in err
    broken.write_text("title = 'no apps'\n")
    status, _, err = run(capsys, *REALTIME, "--apps-file", str(broken))
    assert status == 2 and "needs at least one [[apps]] table" in err


# -- up --------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["0.01", "0", "-1"])
def test_up_refuses_a_demo_interval_under_50_ms(
    capsys: pytest.CaptureFixture[str], interval: str
) -> None:
    # An out-of-range port too: should the interval pass by mistake, `up` stops there.
    status, out, err = run(capsys, "up", "--demo", "--demo-interval", interval, "--port", "70000")
    assert (status, out) == (2, "")
    assert err == "leadcast up: error: --demo-interval must be at least 0.05 seconds\n"


def test_up_help_documents_the_demo_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--demo-interval SECONDS seconds between demo leads with --demo (4; at least 0.05)" in (
        shown
    )
