"""RealtimeServer on loopback, in process: readiness while stopping; its HTTP limits and options.

The server runs on the test's own event loop with real sockets; the clients are plain
asyncio streams speaking HTTP/1.1 and WebSocket by hand.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from leadcast.cli import main
from leadcast.protocol import App, AppRegistry
from leadcast.protocol.errors import ConfigError
from leadcast.realtime.server import HttpLimits, RealtimeServer

APP = App("1", "key-1", "secret-1")
TIMEOUT = 10.0


async def http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, dict[str, str], Any]:
    """One keep-alive GET on an open connection: status, headers, JSON body."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), TIMEOUT)
    return int(lines[0].split()[1]), headers, json.loads(body)


async def open_websocket(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /app/{APP.key}?protocol=7 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 "), head
    opcode, payload = await read_frame(reader)
    assert opcode == 0x1 and b"pusher:connection_established" in payload, payload
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await asyncio.wait_for(reader.readexactly(length), TIMEOUT)


def masked_close(code: int) -> bytes:
    mask = os.urandom(4)
    payload = struct.pack("!H", code)
    return (
        bytes([0x88, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def test_ready_answers_503_while_stopping_and_health_says_stopping() -> None:
    async def scenario() -> None:
        server = RealtimeServer(AppRegistry([APP]), loop=asyncio.get_running_loop())
        host, port = await server.start("127.0.0.1", 0)
        ws_reader, ws_writer = await open_websocket(host, port)
        ready = await asyncio.open_connection(host, port)
        health = await asyncio.open_connection(host, port)
        status, headers, body = await http_get(*ready, "/ready")
        assert (status, body["status"], headers["connection"]) == (200, "ok", "keep-alive")

        stopping = asyncio.create_task(server.stop())
        # The WebSocket is told to reconnect elsewhere; it has not answered the close yet, so
        # the server is still draining, and the kept-alive HTTP connections are still served.
        opcode, payload = await read_frame(ws_reader)
        assert (opcode, struct.unpack("!H", payload[:2])[0]) == (0x8, 4200)
        status, headers, body = await http_get(*ready, "/ready")
        assert (status, body["status"], headers["connection"]) == (503, "stopping", "close")
        status, _, body = await http_get(*health, "/health")
        assert (status, body["status"]) == (200, "stopping")
        with pytest.raises(OSError):
            await asyncio.open_connection(host, port)

        ws_writer.write(masked_close(4200))
        await asyncio.wait_for(stopping, TIMEOUT)
        assert server.connections == set()
        for _, writer in (ready, health, (ws_reader, ws_writer)):
            writer.close()

    asyncio.run(scenario())


def test_a_stopping_server_refuses_websocket_upgrades_on_kept_alive_connections() -> None:
    async def scenario() -> None:
        server = RealtimeServer(AppRegistry([APP]), loop=asyncio.get_running_loop())
        host, port = await server.start("127.0.0.1", 0)
        _, ws_writer = await open_websocket(host, port)  # keeps the server draining
        reader, writer = await asyncio.open_connection(host, port)
        assert (await http_get(reader, writer, "/health"))[0] == 200

        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0)  # stop() has begun: not ready any more
        writer.write(
            (
                f"GET /app/{APP.key}?protocol=7 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 503 "), head
        assert server.node.connections == 0

        ws_writer.write(masked_close(1000))
        await asyncio.wait_for(stopping, TIMEOUT)
        writer.close()
        ws_writer.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (HttpLimits(request_timeout=0), "request_timeout must be 0.05-3600 seconds, not 0"),
        (HttpLimits(request_timeout=float("nan")), "request_timeout must be"),
        (HttpLimits(keepalive_timeout=-1), "keepalive_timeout must be 0.05-3600 seconds"),
        (HttpLimits(keepalive_timeout=3601), "keepalive_timeout must be 0.05-3600 seconds"),
        (HttpLimits(max_pending=0), "max_pending must be 1-1000000, not 0"),
    ],
)
def test_limits_out_of_range_are_refused(limits: HttpLimits, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        limits.check()


def test_the_defaults_are_in_range() -> None:
    limits = HttpLimits()
    assert limits.check() is limits
    assert (limits.request_timeout, limits.keepalive_timeout, limits.max_pending) == (
        10.0,
        30.0,
        1000,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--request-timeout", "0"], {}, "request_timeout must be 0.05-3600 seconds, not 0.0"),
        (
            ["--keepalive-timeout", "nan"],
            {},
            "keepalive_timeout must be 0.05-3600 seconds, not nan",
        ),
        (["--max-pending-connections", "0"], {}, "max_pending must be 1-1000000, not 0"),
        ([], {"LEADCAST_REQUEST_TIMEOUT": "7200"}, "request_timeout must be 0.05-3600 seconds"),
        ([], {"LEADCAST_MAX_PENDING_CONNECTIONS": "many"}, "invalid int value: 'many'"),
    ],
)
def test_the_cli_refuses_to_start_with_limits_out_of_range(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text('[[apps]]\nid = "1"\nkey = "key-1"\nsecret = "secret-1"\n')
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    try:
        status = main(["realtime", "--port", "0", "--apps-file", str(apps), *args])
    except SystemExit as exit_:  # argparse refuses values of the wrong type
        status = exit_.code

    assert status == 2
    assert message in capsys.readouterr().err
