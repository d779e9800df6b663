"""Run ``leadcast up`` and Node scenarios for the end-to-end tests, and talk to them.

:func:`start_up` runs ``python -m leadcast up`` the way a user starts it, on free loopback
ports, and reads its "is up" banner: the URLs, the demo accounts and the lead-source API key.
It takes extra options (``--demo``, realtime off), settings over the e2e app's (a
broadcaster pointing at a closed port) and a restart on the same database (whose banner has
no API key: it is shown once); :class:`Up` stops it with SIGTERM or kills it with SIGKILL.
:class:`NodeScenario` runs one of ``node/*.mjs`` and talks to it: it waits for JSON lines on
its stdout and can write commands to its stdin.

Every wait is bounded; every process started here is killed if still running, and its pipes
are closed (``tests/support/processes.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.nodejs import NODE_DIR, node_executable
from tests.support.net import free_port
from tests.support.processes import Output, spawn

__all__ = [
    "ADMIN_EMAIL",
    "APP",
    "EMAIL",
    "LEAD",
    "OTHER_PM_EMAIL",
    "PHONE",
    "PM_EMAIL",
    "START_TIMEOUT",
    "Account",
    "NodeScenario",
    "Up",
    "login",
    "node_scenario",
    "poll",
    "start_up",
]

START_TIMEOUT = 60.0  # seconds for `leadcast up` to migrate, create the demo data and listen

BANNER = re.compile(r"leadcast \S+ is up: listening on http://(?P<host>[\d.]+):(?P<port>\d+)")
REALTIME_LINE = re.compile(r"real-time\s+ws://(?P<host>[\d.]+):(?P<port>\d+)/app/")
ACCOUNT_LINE = re.compile(r"^\s+(?P<email>\S+@\S+)\s+password\s+(?P<password>\S+)\s+(?P<name>.+)$")
API_KEY_LINE = re.compile(r"lead-source API key \(shown once\): (?P<key>lck_\S+)")

# The app `leadcast up` serves and its relay publishes to (not the development defaults, so
# the tests show the settings really flow from the environment to both ends).
APP = {
    "PUSHER_APP_ID": "leads-e2e",
    "PUSHER_APP_KEY": "leads-e2e-key",
    "PUSHER_APP_SECRET": "leads-e2e-secret",
}

# The demo accounts (src/leadcast/services/demo.py): Avery takes residential 1-200 units in
# every demo ZIP, no caps; Casey residential 20-1000 units with a daily cap of 200; Blake only
# commercial types.
PM_EMAIL = "avery@leadcast.test"
OTHER_PM_EMAIL = "casey@leadcast.test"
ADMIN_EMAIL = "admin@leadcast.test"

# The seed's lead: a 100-unit residential property in Austin, TX (78701). It goes to Avery
# and Casey (Blake takes no residential leads), two recipients, well under the limit of 5.
EMAIL = "maria.garcia@example.com"
PHONE = "+1 512 555 0147"
LEAD: dict[str, Any] = {
    "full_name": "Maria Garcia",
    "email": EMAIL,
    "phone": PHONE,
    "property_type": "residential",
    "street_address": "1200 Congress Ave",
    "city": "Austin",
    "state": "TX",
    "zip_code": "78701",
    "number_of_units": 100,
    "source": "website",
}


# --------------------------------------------------------------------------- leadcast up


@dataclass(frozen=True)
class Account:
    """A demo account as the banner lists it."""

    email: str
    password: str
    name: str


@dataclass
class Up:
    """A running ``python -m leadcast up`` and what its banner said."""

    process: subprocess.Popen[str]
    output: Output
    api_url: str = ""
    ws_host: str = ""
    ws_port: int = 0
    accounts: dict[str, Account] = field(default_factory=dict)
    api_key: str = ""

    def log(self) -> str:
        return f"--- leadcast up output ---\n{self.output.text[-6000:]}"

    def stop(self, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM, then wait up to ``timeout`` s; returns (exit status, seconds taken)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        return self.process.poll(), time.monotonic() - started

    def kill(self) -> int:
        """SIGKILL, as a crash or the OOM killer would; returns the exit status (-9)."""
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(10)

    def wait_for_line(self, needle: str, timeout: float = 30.0) -> str:
        """The first output line containing ``needle``; fails the test after ``timeout`` s."""
        found = self.output.wait_for(
            lambda lines: next((line for line in lines if needle in line), None), timeout
        )
        if not found:
            pytest.fail(f"leadcast up never printed {needle!r}\n{self.log()}", pytrace=False)
        line: str = found
        return line


def up_environment(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without leadcast settings, then the e2e app and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUSHER_", "LEADCAST_", "BROADCAST_")) and k != "DATABASE_URL"
    }
    env.update(APP, DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


@contextlib.contextmanager
def start_up(
    database_url: str,
    workdir: os.PathLike[str],
    *,
    realtime: bool = True,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    first_start: bool = True,
) -> Iterator[Up]:
    """Run ``python -m leadcast up *args`` on free loopback ports until the block exits.

    The process is killed (SIGKILL) when the block exits if it still runs; stop it with
    :meth:`Up.stop` first to test a clean shutdown.

    Args:
        database_url: ``DATABASE_URL``.
        workdir: the process's working directory.
        realtime: run the embedded real-time server (on a free port), else ``--no-realtime``.
        args: more options, e.g. ``["--demo"]``.
        env: variables over the e2e app's (e.g. ``PUSHER_HOST``).
        first_start: a fresh database, whose banner ends with the lead-source API key; on a
            restart the banner's first line is enough.
    """
    api_port = ws_port = free_port()
    while ws_port == api_port:
        ws_port = free_port()
    command = [sys.executable, "-m", "leadcast", "up", "--host", "127.0.0.1"]
    command += ["--port", str(api_port)]
    command += ["--ws-port", str(ws_port)] if realtime else ["--no-realtime"]
    command += args

    def ready(lines: list[str]) -> bool:
        if not any(BANNER.search(line) for line in lines):
            return False
        return not first_start or any(API_KEY_LINE.search(line) for line in lines)

    with spawn(
        command,
        cwd=workdir,
        env=up_environment(database_url, env),
        stdin=subprocess.DEVNULL,
        merge_stderr=True,
    ) as (process, output, _):
        up = Up(process, output)
        if not output.wait_for(ready, START_TIMEOUT):
            pytest.fail(
                f"leadcast up printed no banner within {START_TIMEOUT:.0f} s "
                f"(exit status {process.poll()})\n{up.log()}",
                pytrace=False,
            )
        _read_banner(up)
        yield up


def _read_banner(up: Up) -> None:
    for line in up.output.lines:
        if match := BANNER.search(line):
            up.api_url = f"http://{match['host']}:{match['port']}"
        elif match := REALTIME_LINE.search(line):
            up.ws_host, up.ws_port = match["host"], int(match["port"])
        elif match := API_KEY_LINE.search(line):
            up.api_key = match["key"]
        elif match := ACCOUNT_LINE.match(line):
            up.accounts[match["email"]] = Account(
                match["email"], match["password"], match["name"].strip()
            )


def login(client: httpx.Client, account: Account) -> dict[str, Any]:
    """``POST /api/auth/login`` as ``account``; the answer (``token``, ``user``)."""
    response = client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- Node scenarios


@dataclass
class NodeScenario:
    """A running ``node/<scenario>.mjs``: JSON lines out, commands in."""

    name: str
    process: subprocess.Popen[str]
    stdout: Output
    stderr: Output
    context: Callable[[], str] | None = None

    def describe(self) -> str:
        described = (
            f"--- {self.name} stdout ---\n{self.stdout.text[-4000:]}\n"
            f"--- {self.name} stderr ---\n{self.stderr.text[-3000:]}"
        )
        return described if self.context is None else f"{described}\n{self.context()}"

    def json_lines(self) -> list[dict[str, Any]]:
        return _objects(self.stdout.lines)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first JSON line ``predicate`` accepts; a failed result (``ok: false``) or
        ``timeout`` s fail the test."""

        def check(lines: list[str]) -> dict[str, Any] | None:
            for value in _objects(lines):
                if predicate(value) or value.get("ok") is False:
                    return value
            return None

        found = self.stdout.wait_for(check, timeout)
        if not found or found.get("ok") is False or not predicate(found):
            pytest.fail(f"{self.name}: no {what} within {timeout:.0f} s\n{self.describe()}")
        result: dict[str, Any] = found
        return result

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        """The final ``{"ok": true, ...}`` line, after the process exits with status 0."""
        final = self.wait_for(lambda value: "ok" in value, "result", timeout)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit\n{self.describe()}", pytrace=False)
        if final.get("ok") is not True or self.process.returncode != 0:
            pytest.fail(f"{self.name} failed\n{self.describe()}", pytrace=False)
        return final


def _objects(lines: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict):
                found.append(value)
    return found


@contextlib.contextmanager
def node_scenario(
    scenario: str,
    args: Sequence[str],
    *,
    ws_host: str,
    ws_port: int,
    api_url: str,
    deadline: float = 60.0,
    context: Callable[[], str] | None = None,
) -> Iterator[NodeScenario]:
    """Run ``node node/<scenario> *args`` against a real-time server and the lead API.

    The scenario's own deadline (``LEADCAST_DEADLINE_MS``) is ``deadline``; the process is
    killed when the block exits if it still runs. ``context()`` (e.g. :meth:`Up.log`) is
    added to the report of a failed wait.
    """
    env = {
        **os.environ,
        "LEADCAST_HOST": ws_host,
        "LEADCAST_PORT": str(ws_port),
        "LEADCAST_APP_ID": APP["PUSHER_APP_ID"],
        "LEADCAST_APP_KEY": APP["PUSHER_APP_KEY"],
        "LEADCAST_APP_SECRET": APP["PUSHER_APP_SECRET"],
        "LEADCAST_API_URL": api_url,
        "LEADCAST_DEADLINE_MS": str(int(deadline * 1000)),
    }
    with spawn(
        [node_executable(), scenario, *args],
        cwd=NODE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        merge_stderr=False,
    ) as (process, stdout, stderr):
        assert stderr is not None
        yield NodeScenario(scenario, process, stdout, stderr, context)


def poll(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """``check()``'s first truthy value within ``timeout`` s, else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(every)
