"""Start a real ``leadcast realtime`` process on loopback for end-to-end tests.

The server is a subprocess started the way a user starts it (``python -m leadcast
realtime``), on an ephemeral port it reports on stdout, with apps from a TOML file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LISTENING = re.compile(r"listening on http://(?P<host>[\d.]+):(?P<port>\d+)")

DEFAULT_APP: dict[str, Any] = {
    "id": "1001",
    "key": "e2e-key",
    "secret": "e2e-secret",
    "client_events": True,
}
OTHER_APP: dict[str, Any] = {
    "id": "2002",
    "key": "other-key",
    "secret": "other-secret",
    "client_events": True,
}


@dataclass
class RunningServer:
    host: str
    port: int
    process: subprocess.Popen[str]
    apps: list[dict[str, Any]]
    output: list[str]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def app(self, index: int = 0) -> dict[str, Any]:
        return self.apps[index]

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http_url}/health", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def write_apps_file(path: Path, apps: list[Mapping[str, Any]]) -> Path:
    lines: list[str] = []
    for app in apps:
        lines.append("[[apps]]")
        lines.extend(f"{name} = {_toml_value(value)}" for name, value in app.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@contextmanager
def realtime_server(
    tmp_path: Path,
    apps: list[Mapping[str, Any]] | None = None,
    *,
    extra_args: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run ``leadcast realtime`` with ``apps`` until the block exits."""
    app_list = [dict(a) for a in (apps or [DEFAULT_APP, OTHER_APP])]
    apps_file = write_apps_file(tmp_path / "apps.toml", app_list)
    command = [
        sys.executable,
        "-m",
        "leadcast",
        "realtime",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--apps-file",
        str(apps_file),
        *(extra_args or []),
    ]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}
    full_env.update(env or {})
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
    )
    output: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            match = LISTENING.search(line)
            if match and not ready.is_set():
                found.update(match.groupdict())
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not found:
        _stop(process, reader)
        raise RuntimeError("server did not start:\n" + "".join(output))
    server = RunningServer(found["host"], int(found["port"]), process, app_list, output)
    try:
        yield server
    finally:
        _stop(process, reader)


def _stop(process: subprocess.Popen[str], reader: threading.Thread) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
