"""A PostgreSQL database for the tests, wherever one can be had.

``postgres_url()`` (used by the session fixture in ``tests/support/fixtures.py``) yields the
URL of a fresh, empty database and removes it afterwards:

1. ``LEADCAST_TEST_POSTGRES_URL`` set (e.g. ``postgresql://postgres@localhost/postgres``):
   a new database ``leadcast_test_<random>`` is created through that server and dropped at
   the end.
2. Otherwise a throwaway server: ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``
   (or ``PATH``) in a temporary directory, listening on a free loopback port, with fsync
   off. PostgreSQL refuses to run as root, so as root the binaries run as the ``postgres``
   OS user (``runuser -u postgres --``) and the directory is handed to it.
3. Neither possible: the PostgreSQL tests are skipped, unless ``CI=true``, where a missing
   database is an error, never a silent skip.

Tests that need a database of their own (the CLI's, ``leadcast up``'s) take a server with
``server_url(request)`` and make one on it with ``fresh_database(server, prefix=...)``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from leadcast.db import make_engine
from tests.support.net import free_port

__all__ = [
    "ENV_URL",
    "PostgresUnavailable",
    "fresh_database",
    "postgres_url",
    "server_url",
    "unavailable",
]

ENV_URL = "LEADCAST_TEST_POSTGRES_URL"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started."""


def unavailable(reason: str) -> None:
    """Skip, or fail loudly on CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required on CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """Yield the URL of a fresh, empty PostgreSQL database; drop it afterwards.

    Raises:
        PostgresUnavailable: no server is configured and none can be started.
    """
    configured = os.environ.get(ENV_URL, "").strip()
    if configured:
        with fresh_database(configured) as url:
            yield url
        return
    with _throwaway_server() as server, fresh_database(server) as url:
        yield url


@contextlib.contextmanager
def fresh_database(
    server: str, *, prefix: str = "leadcast_test", drivername: str | None = None
) -> Iterator[str]:
    """Yield the URL of a new, empty database on ``server``'s server; drop it afterwards.

    Args:
        server: the URL of a database on a server where its user may create databases.
        prefix: the new database is named ``<prefix>_<random>``.
        drivername: the yielded URL's scheme (e.g. ``postgresql``), else ``server``'s.

    Raises:
        PostgresUnavailable: the server refused or could not be reached.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = make_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        shown = make_url(server).render_as_string(hide_password=True)
        raise PostgresUnavailable(f"cannot create a database on {shown}: {error}") from None
    url = make_url(server).set(database=name)
    if drivername is not None:
        url = url.set(drivername=drivername)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Yield a URL on a PostgreSQL server whose user may create databases.

    The shared session database (the ``postgres_database`` fixture) when
    ``tests/support/fixtures.py`` is registered, else a database of :func:`postgres_url`
    for as long as the block runs. Without either the test is skipped (failed on CI).
    """
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


def _binaries() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists() and Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found and Path(found).resolve().with_name("initdb").exists():
        return Path(found).resolve().parent
    raise PostgresUnavailable(
        f"no initdb/pg_ctl in /usr/lib/postgresql/*/bin or PATH, and {ENV_URL} is not set"
    )


@contextlib.contextmanager
def _throwaway_server() -> Iterator[str]:
    binaries = _binaries()
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' user") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and runuser is not available")
        prefix = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="leadcast-pg-"))
    data, log = root / "data", root / "server.log"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def run(*command: str) -> None:
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )

    started = False
    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
