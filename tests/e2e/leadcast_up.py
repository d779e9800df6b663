"""Run ``leadcast up`` and Node scenarios for the end-to-end tests that need more control.

``test_leads_e2e.leadcast_up`` starts one fresh ``leadcast up`` per backend with fixed
options. The resilience, demo and sign-in tests need other things: extra options
(``--demo``, ``--no-realtime``), their own ``PUSHER_*`` (a broadcaster pointing at a closed
port), a restart on the same database (whose banner has no API key: it is shown once), and a
SIGKILL. :func:`start_up` does that, reusing the banner patterns and :class:`Output` of
``test_leads_e2e``. :class:`NodeScenario` runs one of ``node/*.mjs`` and talks to it: it
waits for JSON lines on its stdout and can write commands to its stdin.

Every wait is bounded; every process started here is killed if still running, and its pipes
are closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.test_leads_e2e import (
    ACCOUNT_LINE,
    API_KEY_LINE,
    APP,
    BANNER,
    NODE_DIR,
    REALTIME_LINE,
    Account,
    Output,
    node_executable,
)

__all__ = ["START_TIMEOUT", "NodeScenario", "Up", "node_scenario", "poll", "start_up"]

START_TIMEOUT = 60.0  # seconds for `leadcast up` to migrate, create the demo data and listen


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
    api_port: int,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    first_start: bool = True,
) -> Iterator[Up]:
    """Run ``python -m leadcast up --port api_port *args`` until the block exits.

    Args:
        database_url: ``DATABASE_URL``.
        workdir: the process's working directory.
        api_port: the API's port.
        args: more options, e.g. ``["--ws-port", "6123", "--demo"]``.
        env: variables over the e2e app's (e.g. ``PUSHER_HOST``).
        first_start: a fresh database, whose banner ends with the lead-source API key; on a
            restart the banner's first line is enough.
    """
    command = [sys.executable, "-m", "leadcast", "up", "--host", "127.0.0.1"]
    command += ["--port", str(api_port), *args]

    def ready(lines: list[str]) -> bool:
        if not any(BANNER.search(line) for line in lines):
            return False
        return not first_start or any(API_KEY_LINE.search(line) for line in lines)

    with subprocess.Popen(
        command,
        cwd=workdir,
        env=up_environment(database_url, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        output = Output(process.stdout)
        up = Up(process, output)
        try:
            if not output.wait_for(ready, START_TIMEOUT):
                pytest.fail(
                    f"leadcast up printed no banner within {START_TIMEOUT:.0f} s "
                    f"(exit status {process.poll()})\n{up.log()}",
                    pytrace=False,
                )
            _read_banner(up)
            yield up
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            output.join()


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


@dataclass
class NodeScenario:
    """A running ``node/<scenario>.mjs``: JSON lines out, commands in."""

    name: str
    process: subprocess.Popen[str]
    stdout: Output
    stderr: Output

    def describe(self) -> str:
        return (
            f"--- {self.name} stdout ---\n{self.stdout.text[-4000:]}\n"
            f"--- {self.name} stderr ---\n{self.stderr.text[-3000:]}"
        )

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
) -> Iterator[NodeScenario]:
    """Run ``node node/<scenario> *args`` against a real-time server and the lead API.

    The scenario's own deadline (``LEADCAST_DEADLINE_MS``) is ``deadline``; the process is
    killed when the block exits if it still runs.
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
    with subprocess.Popen(
        [node_executable(), scenario, *args],
        cwd=NODE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        running = NodeScenario(scenario, process, Output(process.stdout), Output(process.stderr))
        try:
            yield running
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            running.stdout.join()
            running.stderr.join()


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
