"""The edges of ``leadcast realtime``'s HTTP and connection layer, against a real process.

- connections that never complete a request, idle keep-alive, the cap on pending connections;
- ``--path-prefix``: pusher-js ``wsPath`` and the official Python and Node SDKs;
- malformed HTTP and bad WebSocket handshakes, each answered with a JSON error;
- a subscriber that stops reading, and keepalive by WebSocket ping frames only;
- SIGTERM: every WebSocket closed with 4200, spread out, and exit status 0.

Servers are started per concern with the options under test (docs/realtime.md).
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.e2e.test_node_clients import run_node
from tests.e2e.test_python_sdk import close_client, make_client, send_raw_request
from tests.e2e.wsclient import (
    Api,
    PusherSocket,
    RawWebSocket,
    eventually,
    http_request,
    unique,
)

BRISK_APP = {
    "id": "4001",
    "key": "brisk-key",
    "secret": "brisk-secret",
    "activity_timeout": 1,
    "pong_timeout": 1,
}
#: The request and keep-alive deadlines of the ``tight`` server.
TIGHT = 1.0
#: Generous bound for anything the server should do "soon" on a busy machine.
SOON = 15.0


# --------------------------------------------------------------------------- helpers


def raw_connect(server: RunningServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=SOON)


def read_until_closed(sock: socket.socket, timeout: float = SOON) -> bytes:
    """Everything the server sends until it closes the connection; fails if it never does."""
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"server kept the connection open; received {received[:300]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def parse_response(data: bytes) -> tuple[int, dict[str, str], Any]:
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no complete HTTP response: {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    assert len(body) == length, f"body is {len(body)} bytes, Content-Length {length}"
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def handshake(path: str, **overrides: str | None) -> bytes:
    headers: dict[str, str | None] = {
        "Host": "test",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update({name.replace("_", "-"): value for name, value in overrides.items()})
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if value is not None)
    return f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode()


def health(server: RunningServer) -> dict[str, Any]:
    response = http_request(server.host, server.port, "GET", "/health")
    assert response.status == 200, response
    body = response.json()
    assert isinstance(body, dict)
    return body


def server_closes(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (without blocking)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(65536, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Short request and keep-alive deadlines."""
    args = ["--request-timeout", str(TIGHT), "--keepalive-timeout", str(TIGHT)]
    with realtime_server(tmp_path_factory.mktemp("tight"), extra_args=args) as running:
        yield running


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """At most three connections pending at once."""
    args = ["--max-pending-connections", "3"]
    with realtime_server(tmp_path_factory.mktemp("capped"), extra_args=args) as running:
        yield running


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--path-prefix", "/ws"]
    with realtime_server(tmp_path_factory.mktemp("prefixed"), extra_args=args) as running:
        yield running


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Default limits; the default app and one with a 1 s activity and pong timeout."""
    apps = [DEFAULT_APP, BRISK_APP]
    with realtime_server(tmp_path_factory.mktemp("edge"), apps) as running:
        yield running


@pytest.fixture(scope="module")
def subscriber(edge: RunningServer) -> Iterator[tuple[PusherSocket, str]]:
    """One socket subscribed for the whole module: bad input elsewhere must not disturb it."""
    channel = unique("bystander")
    sock = PusherSocket.open(edge.ws_url, DEFAULT_APP["key"])
    sock.subscribe(channel)
    yield sock, channel
    sock.close()


def assert_still_delivers(server: RunningServer, subscriber: tuple[PusherSocket, str]) -> None:
    sock, channel = subscriber
    marker = unique("still-here")
    Api(server.host, server.port, DEFAULT_APP).publish_ok(channel, "marker", marker)
    assert sock.expect("marker", channel).raw["data"] == marker


# --------------------------------------------------------------------------- 1. deadlines


def test_half_a_header_gets_408_and_is_closed_while_health_answers(tight: RunningServer) -> None:
    with raw_connect(tight) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Half: abc")
        assert health(tight)["status"] == "ok"

        status, headers, body = parse_response(read_until_closed(slow))

    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert body == {"error": f"request not completed within {TIGHT:g} s"}
    assert health(tight)["status"] == "ok"


def test_a_drip_fed_head_does_not_extend_the_deadline(tight: RunningServer) -> None:
    with raw_connect(tight) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Drip: ")
        for _ in range(int(SOON / 0.1)):  # one byte every 0.1 s, for longer than SOON
            if server_closes(slow) or select.select([slow], [], [], 0)[0]:
                break
            slow.sendall(b"a")
            time.sleep(0.1)
        status, _, body = parse_response(read_until_closed(slow))

    assert status == 408, body


def test_a_connection_that_sends_nothing_is_closed_without_a_response(
    tight: RunningServer,
) -> None:
    with raw_connect(tight) as silent:
        assert read_until_closed(silent) == b""


def test_an_idle_kept_alive_connection_is_closed_after_its_timeout(tight: RunningServer) -> None:
    with raw_connect(tight) as client:
        for _ in range(2):  # kept alive: the second request is served on the same connection
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                chunk = client.recv(65536)
                assert chunk, "closed while a response was expected"
                data += chunk
            status, headers, body = parse_response(data)
            assert (status, body["status"], headers["connection"]) == (200, "ok", "keep-alive")
            assert headers["keep-alive"] == f"timeout={int(TIGHT)}"

        assert read_until_closed(client) == b""  # idle: closed without a word


def test_websockets_are_not_subject_to_the_http_deadlines(tight: RunningServer) -> None:
    sock = PusherSocket.open(tight.ws_url, DEFAULT_APP["key"])
    try:
        with raw_connect(tight) as witness:  # connected after the WebSocket upgraded
            assert read_until_closed(witness) == b""  # so its deadline has passed too
        sock.assert_alive()
    finally:
        sock.close()


def test_connections_over_the_pending_cap_get_503_and_websockets_do_not_count(
    capped: RunningServer,
) -> None:
    sockets = [PusherSocket.open(capped.ws_url, DEFAULT_APP["key"]) for _ in range(3)]
    channel = unique("capped")
    for sock in sockets:
        sock.subscribe(channel)
    held = [raw_connect(capped) for _ in range(3)]
    try:
        with raw_connect(capped) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            status, headers, body = parse_response(read_until_closed(extra))
        assert status == 503
        assert headers["retry-after"] == "1"
        assert body == {
            "error": "too many connections waiting to complete a request; retry shortly"
        }

        # The held connections are still served, and once one is gone there is room again.
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert parse_response(read_until_closed(held[0]))[0] == 200
        eventually(lambda: health(capped)["status"] == "ok", timeout=SOON)
        Api(capped.host, capped.port, DEFAULT_APP).publish_ok(channel, "after-cap", "x")
        for sock in sockets:
            assert sock.expect("after-cap", channel).raw["data"] == "x"
    finally:
        for sock in sockets:
            sock.close()
        for raw in held:
            raw.close()


# --------------------------------------------------------------------------- 2. path prefix


def test_prefixed_websocket_receives_what_the_python_sdk_posts_under_the_prefix(
    prefixed: RunningServer,
) -> None:
    channel = unique("prefixed")
    sdk = make_client(prefixed)
    sock = PusherSocket.open(prefixed.ws_url + "/ws", DEFAULT_APP["key"])
    try:
        sock.subscribe(channel)
        # The SDK signs the path it posts to: /ws/apps/{id}/events.
        params = {"name": "via-prefix", "channels": [channel], "data": "hello"}
        assert send_raw_request(sdk, f"/ws/apps/{DEFAULT_APP['id']}/events", params) == {}
        assert sock.expect("via-prefix", channel).raw["data"] == "hello"
        # The SDK's own trigger posts unprefixed, which the server serves as well.
        assert sdk.trigger(channel, "unprefixed", "too") == {}
        assert sock.expect("unprefixed", channel).raw["data"] == "too"
    finally:
        sock.close()
        close_client(sdk)


def test_prefixed_request_signed_over_the_unprefixed_path_is_accepted(
    prefixed: RunningServer,
) -> None:
    channel = unique("prefixed")
    api = Api(prefixed.host, prefixed.port, DEFAULT_APP)
    sock = PusherSocket.open(prefixed.ws_url + "/ws", DEFAULT_APP["key"])
    try:
        sock.subscribe(channel)
        body = json.dumps({"name": "signed-bare", "channel": channel, "data": "x"}).encode()
        sent_to = f"/ws{api.prefix}/events"

        def signed_over(path: str) -> str:
            return sent_to + "?" + api.signed_target("POST", path, None, body).partition("?")[2]

        target = signed_over(f"{api.prefix}/events")
        response = http_request(prefixed.host, prefixed.port, "POST", target, body)
        assert (response.status, response.json()) == (200, {})
        assert sock.expect("signed-bare", channel).raw["data"] == "x"

        # Signed over some other path: refused, and nothing arrives.
        forged = signed_over(f"/other{api.prefix}/events")
        response = http_request(prefixed.host, prefixed.port, "POST", forged, body)
        assert response.status == 401, response
        assert response.json() == {"error": "authentication failed: invalid auth_signature"}
        sock.assert_silent()
    finally:
        sock.close()


@pytest.mark.parametrize("path", ["/ws/health", "/ws/ready", "/ws/up", "/ws", "/health"])
def test_health_is_served_under_the_prefix_too(prefixed: RunningServer, path: str) -> None:
    response = http_request(prefixed.host, prefixed.port, "GET", path)

    assert response.status == 200, response
    assert response.json()["status"] == "ok"


def test_unprefixed_websocket_path_is_404_under_a_prefix(prefixed: RunningServer) -> None:
    with raw_connect(prefixed) as client:
        client.sendall(handshake(f"/app/{DEFAULT_APP['key']}?protocol=7"))
        status, _, body = parse_response(read_until_closed(client))

    assert (status, body) == (404, {"error": f"no WebSocket endpoint at /app/{DEFAULT_APP['key']}"})


# --------------------------------------------------------------------------- 4. bad input

WS = f"/app/{DEFAULT_APP['key']}?protocol=7"
_KEY = base64.b64encode(os.urandom(16)).decode()
_HEADERS = "".join(f"X-Filler-{n}: {'v' * 1000}\r\n" for n in range(20))
_MANY = "".join(f"X-{n}: v\r\n" for n in range(101))

BAD_REQUESTS = {
    "not HTTP": (b"HELLO THERE\r\n\r\n", 400, "malformed HTTP request"),
    "bad Content-Length": (
        b"POST /apps/1001/events HTTP/1.1\r\nHost: t\r\nContent-Length: ten\r\n\r\n",
        400,
        "malformed HTTP request",
    ),
    "request line too long": (
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        414,
        "request target over 16384 bytes",
    ),
    "headers too large": (
        f"GET /health HTTP/1.1\r\nHost: t\r\n{_HEADERS}\r\n".encode(),
        431,
        "headers over 16384 bytes",
    ),
    "too many headers": (
        f"GET /health HTTP/1.1\r\n{_MANY}\r\n".encode(),
        431,
        "more than 100 headers",
    ),
    "endless header line": (
        b"GET /health HTTP/1.1\r\nX-Endless: " + b"a" * 60_000,
        431,
        "request head over 40960 bytes",
    ),
    "WebSocket on a wrong path": (
        handshake("/apps/app/x?protocol=7"),
        404,
        "no WebSocket endpoint at /apps/app/x",
    ),
    "Upgrade not websocket": (handshake(WS, Upgrade="h2c"), 426, "expected Upgrade: websocket"),
    "no Sec-WebSocket-Key": (
        handshake(WS, Sec_WebSocket_Key=None),
        400,
        "Sec-WebSocket-Key must be 16 bytes in base64",
    ),
    "short Sec-WebSocket-Key": (
        handshake(WS, Sec_WebSocket_Key=base64.b64encode(b"short").decode()),
        400,
        "Sec-WebSocket-Key must be 16 bytes in base64",
    ),
    "Sec-WebSocket-Key not base64": (
        handshake(WS, Sec_WebSocket_Key="!" * 24),
        400,
        "Sec-WebSocket-Key must be 16 bytes in base64",
    ),
    "Sec-WebSocket-Version 8": (
        handshake(WS, Sec_WebSocket_Version="8"),
        426,
        "Sec-WebSocket-Version must be 13, got '8'",
    ),
    "no Sec-WebSocket-Version": (
        handshake(WS, Sec_WebSocket_Version=None),
        426,
        "Sec-WebSocket-Version must be 13, got none",
    ),
    "handshake by POST": (
        handshake(WS).replace(b"GET ", b"POST ", 1),
        405,
        "a WebSocket handshake is a GET request",
    ),
    "WebSocket path without an upgrade": (
        f"GET {WS} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(),
        426,
        f"/app/{DEFAULT_APP['key']} is a WebSocket endpoint: upgrade to WebSocket",
    ),
}


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"), list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS)
)
def test_bad_http_gets_a_json_error_and_leaves_the_server_healthy(
    edge: RunningServer,
    subscriber: tuple[PusherSocket, str],
    request_bytes: bytes,
    status: int,
    error: str,
) -> None:
    connections = health(edge)["connections"]
    with raw_connect(edge) as client:
        client.sendall(request_bytes)
        got_status, headers, body = parse_response(read_until_closed(client))

    assert (got_status, body) == (status, {"error": error})
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    if status == 426:  # RFC 9110 §15.5.22 and RFC 6455 §4.4
        assert headers["upgrade"] == "websocket"
        assert headers["sec-websocket-version"] == "13"
    assert health(edge)["connections"] == connections
    assert_still_delivers(edge, subscriber)


# --------------------------------------------------------------------------- 5. slow readers


class Collector(threading.Thread):
    """Reads one socket in the background: the data of every ``bulk`` event until ``done``."""

    def __init__(self, sock: PusherSocket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.data: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                message = self.sock.recv(timeout=SOON * 2)
                if message.event == "done":
                    return
                if message.event == "bulk":
                    self.data.append(message.raw["data"])
        except BaseException as error:  # reported by the test thread
            self.error = error


def slow_websocket(server: RunningServer, channel: str) -> socket.socket:
    """A subscriber with a tiny receive buffer that will never read again once subscribed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(SOON)
    sock.connect((server.host, server.port))
    sock.sendall(handshake(f"/app/{DEFAULT_APP['key']}?protocol=7"))
    raw = RawWebSocket.__new__(RawWebSocket)  # adopt the socket: RawWebSocket's frame codec
    raw.sock, raw.buffer = sock, b""
    while b"\r\n\r\n" not in raw.buffer:
        raw.buffer += sock.recv(4096)
    head, _, raw.buffer = raw.buffer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert b"connection_established" in raw.recv_frame()[1]
    subscribe = {"event": "pusher:subscribe", "data": {"channel": channel}}
    raw.send_frame(0x1, json.dumps(subscribe).encode())
    assert b"subscription_succeeded" in raw.recv_frame()[1]
    return sock


def test_a_subscriber_that_stops_reading_is_dropped_and_others_get_every_event(
    edge: RunningServer,
) -> None:
    channel = unique("firehose")
    api = Api(edge.host, edge.port, DEFAULT_APP)
    before = health(edge)["connections"]
    slow = slow_websocket(edge, channel)
    fast = [PusherSocket.open(edge.ws_url, DEFAULT_APP["key"]) for _ in range(2)]
    try:
        for sock in fast:
            sock.subscribe(channel)
        assert health(edge)["connections"] == before + 3
        collectors = [Collector(sock) for sock in fast]
        for collector in collectors:
            collector.start()
        chunk = "x" * 10_000
        published = 0
        # 100 KB per request; 4 MiB queued for the slow one drops it, usually after ~5 MB.
        while health(edge)["connections"] > before + 2:
            assert published < 4000, "the slow subscriber was never dropped"
            batch = [
                {"name": "bulk", "channel": channel, "data": f"{published + i}:{chunk}"}
                for i in range(10)
            ]
            assert api.post("/batch_events", {"batch": batch}).status == 200
            published += 10
        api.publish_ok(channel, "done", "")
        for collector in collectors:
            collector.join(timeout=SOON * 4)
            assert collector.error is None, collector.error
            assert not collector.is_alive(), f"{len(collector.data)} of {published} events"
            assert [int(data.split(":")[0]) for data in collector.data] == list(range(published))
        assert published * len(chunk) >= 4 * 1024 * 1024

        # The slow one finds the connection gone once it reads: reset, without all events.
        received = read_until_closed(slow, timeout=SOON * 2)
        assert len(received) < published * len(chunk)
        assert health(edge)["connections"] == before + 2
        marker = unique("after")
        api.publish_ok(channel, "marker", marker)
        for sock in fast:
            assert sock.expect("marker", channel).raw["data"] == marker
    finally:
        slow.close()
        for sock in fast:
            sock.close()


# --------------------------------------------------------------------------- 6. ping frames


def test_websocket_ping_frames_alone_keep_a_connection_alive(edge: RunningServer) -> None:
    """activity_timeout 1 s, pong_timeout 1 s: without the frames it closes 4201 after ~2 s."""
    sock = PusherSocket.open(edge.ws_url, BRISK_APP["key"])
    try:
        assert sock.established is not None
        assert sock.established.data["activity_timeout"] == 1
        until = time.monotonic() + 4.0
        while time.monotonic() < until:
            pong = sock.conn.ping()
            assert pong.wait(SOON), "no pong frame"
            for message in sock.drain(within=0.2):  # never answered with pusher:pong
                assert message.event == "pusher:ping", message.raw
        assert sock.close_frame_received() is None
        sock.assert_alive()
    finally:
        sock.close()


# --------------------------------------------------------------------------- 3. SIGTERM


def test_sigterm_closes_every_websocket_with_4200_spread_out_and_exits_0(
    tmp_path: Path,
) -> None:
    count = 250  # over 200: closed in two batches a second apart
    with realtime_server(tmp_path) as running:
        sockets = [
            RawWebSocket(running.host, running.port, f"/app/{DEFAULT_APP['key']}?protocol=7")
            for _ in range(count)
        ]
        for raw in sockets:
            assert b"connection_established" in raw.recv_frame()[1]
        library_socket = PusherSocket.open(running.ws_url, DEFAULT_APP["key"])
        try:
            eventually(lambda: health(running)["connections"] == count + 1, timeout=SOON)
            running.process.send_signal(signal.SIGTERM)

            codes, first_close = close_codes(sockets)
            assert codes == [4200] * count
            library_socket.expect_close(4200, timeout=SOON)
            assert running.process.wait(timeout=SOON * 2) == 0
        finally:
            library_socket.close()
            for raw in sockets:
                raw.sock.close()
    assert max(first_close) - min(first_close) >= 0.5, "all closed at once"
    assert "Traceback" not in "".join(running.output), "".join(running.output)[-3000:]


def close_codes(sockets: list[RawWebSocket]) -> tuple[list[int | None], list[float]]:
    """Each socket's close code (answered with a close frame) and when its close arrived."""
    codes: dict[int, int | None] = {}
    arrived: dict[int, float] = {}
    by_fd = {raw.sock.fileno(): index for index, raw in enumerate(sockets)}
    deadline = time.monotonic() + SOON * 2
    while len(codes) < len(sockets) and time.monotonic() < deadline:
        waiting = [sockets[i].sock for i in by_fd.values() if i not in codes]
        readable, _, _ = select.select(waiting, [], [], 0.5)
        for sock in readable:
            index = by_fd[sock.fileno()]
            raw = sockets[index]
            try:
                opcode, payload = raw.recv_frame(timeout=SOON)
            except EOFError:
                codes[index] = None
                continue
            if opcode == 0x8:
                codes[index] = struct.unpack("!H", payload[:2])[0]
                arrived[index] = time.monotonic()
                raw.send_frame(0x8, payload[:2])
    return [codes.get(i) for i in range(len(sockets))], list(arrived.values())


def test_pusher_js_with_ws_path_receives_node_sdk_events(prefixed: RunningServer) -> None:
    result = run_node(prefixed, "ws_path.mjs", "--path", "/ws")

    assert result["received"] == [{"id": 7}]
    assert result["trigger_response"] == {}
    assert result["states"] == ["connecting", "connected"]
    assert result["errors"] == []
    assert result["health"]["status"] == 200
    assert result["health"]["body"]["status"] == "ok"
