"""Fixtures of the browser tests: the tools they need and real ``leadcast`` processes.

Each server is started the way a user starts it (``python -m leadcast up``), on free loopback
ports, with a temporary SQLite database, so the demo accounts and a lead-source API key are
created and printed in its banner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BROWSER_DIR = Path(__file__).resolve().parent
ROOT = BROWSER_DIR.parents[1]
DASHBOARD_DIST = ROOT / "dashboard" / "dist"
CHROMIUM = Path("/usr/bin/chromium")

# The development credentials (leadcast.config.DEVELOPMENT_DEFAULTS), given explicitly to both
# processes when the real-time server runs on its own.
PUSHER_APP = {
    "PUSHER_APP_ID": "leadcast",
    "PUSHER_APP_KEY": "leadcast-key",
    "PUSHER_APP_SECRET": "leadcast-secret-change-me",
}
IS_UP = re.compile(r"is up: listening on (?P<base>http://[\d.]+:\d+)")
API_KEY = re.compile(r"lead-source API key \(shown once\): (?P<key>lck_\S+)")
REALTIME_LISTENING = re.compile(r"leadcast realtime .*: listening on http://[\d.]+:(?P<port>\d+)")


@dataclass(frozen=True)
class Tools:
    node: str
    chromium: Path


def find_tools() -> Tools:
    """``node``, Debian's Chromium, playwright-core and a built dashboard, or a failure."""
    problems = []
    node = shutil.which("node")
    if node is None:
        problems.append("node (>= 20) is not on PATH")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing: run `bash scripts/install-chromium.sh` (as root)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        problems.append(
            f"playwright-core is not installed in {BROWSER_DIR}: "
            "run `npm ci` there (or `bash scripts/bootstrap.sh --with-node`)"
        )
    if not (DASHBOARD_DIST / "index.html").is_file():
        problems.append(
            f"the dashboard is not built: run `npm ci && npm run build` in {ROOT}/dashboard"
        )
    if problems:
        pytest.fail("the browser tests cannot run:\n  - " + "\n  - ".join(problems), pytrace=False)
    assert node is not None
    return Tools(node=node, chromium=CHROMIUM)


@pytest.fixture(scope="session")
def tools() -> Tools:
    return find_tools()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without leadcast settings that would change the servers."""
    prefixes = ("PUSHER_", "LEADCAST_", "BROADCAST_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


class Service:
    """A ``python -m leadcast …`` subprocess whose output is collected; ready on a line."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], ready: re.Pattern[str]):
        self.name = name
        self.command = [sys.executable, "-m", "leadcast", *args]
        self.env = dict(env)
        self.ready = ready
        self.lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> re.Match[str]:
        assert self._process is None, f"{self.name} is already running"
        self.lines.append(f"--- {self.name}: {' '.join(self.command[2:])}\n")
        process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        found: list[re.Match[str]] = []
        ready = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.lines.append(line)
                match = self.ready.search(line)
                if match and not found:
                    found.append(match)
                    ready.set()
            ready.set()

        self._process = process
        self._reader = threading.Thread(target=pump, name=f"{self.name} output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05) and time.monotonic() < deadline:
            pass
        if not found:
            self.stop()
            raise RuntimeError(f"{self.name} did not start within {timeout} s:\n{self.output()}")
        return found[0]

    def stop(self) -> None:
        process, reader = self._process, self._reader
        if process is None:
            return
        self._process = self._reader = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if reader is not None:
            reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        self.lines.append(f"--- {self.name} exited with {process.returncode}\n")

    def output(self, last: int = 80) -> str:
        return "".join(self.lines[-last:])


@dataclass
class Leadcast:
    """A running ``leadcast up``, and the separate real-time server when there is one."""

    base: str
    api_key: str
    up: Service
    realtime: Service | None = None
    ws_port: int | None = None

    def output(self) -> str:
        parts = [self.up.output()]
        if self.realtime is not None:
            parts.append(self.realtime.output())
        return "\n".join(parts)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}{path}", timeout=10) as response:
            return json.loads(response.read())


def start_up(
    tmp: Path, *, extra_args: list[str] | None = None, env: Mapping[str, str] | None = None
) -> tuple[Service, str, str]:
    """Start ``leadcast up`` on a fresh SQLite database; its base URL and lead-source key."""
    port = free_port()
    args = ["up", "--host", "127.0.0.1", "--port", str(port), "--dashboard-dir"]
    args += [str(DASHBOARD_DIST), *(extra_args or [])]
    service = Service(
        "leadcast up",
        args,
        clean_environment({"DATABASE_URL": f"sqlite:///{tmp / 'leadcast.db'}", **(env or {})}),
        API_KEY,  # the banner's last line on a fresh database
    )
    key = service.start().group("key")
    banner = IS_UP.search(service.output())
    if banner is None or "dashboard   (not built" in service.output():
        service.stop()
        raise RuntimeError(f"unexpected banner:\n{service.output()}")
    return service, banner.group("base"), key


@pytest.fixture(scope="module")
def leadcast(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leadcast]:
    """``leadcast up`` with its embedded real-time server, shared by a module's tests."""
    ws_port = free_port()
    service, base, key = start_up(
        tmp_path_factory.mktemp("up"), extra_args=["--ws-port", str(ws_port)]
    )
    try:
        yield Leadcast(base=base, api_key=key, up=service, ws_port=ws_port)
    finally:
        service.stop()


@pytest.fixture(scope="module")
def split_leadcast(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leadcast]:
    """``leadcast up --no-realtime`` publishing to a separate ``leadcast realtime`` process.

    The test may stop and restart ``.realtime`` (on the same port) to simulate an outage.
    """
    ws_port = free_port()
    realtime = Service(
        "leadcast realtime",
        ["realtime", "--host", "127.0.0.1", "--port", str(ws_port)],
        clean_environment(PUSHER_APP),
        REALTIME_LISTENING,
    )
    realtime.start()
    try:
        pusher = {**PUSHER_APP, "PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": str(ws_port)}
        service, base, key = start_up(
            tmp_path_factory.mktemp("split"), extra_args=["--no-realtime"], env=pusher
        )
        try:
            yield Leadcast(base=base, api_key=key, up=service, realtime=realtime, ws_port=ws_port)
        finally:
            service.stop()
    finally:
        realtime.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
