"""The network side: one asyncio protocol serving HTTP and WebSocket on one port.

Theory of operation
-------------------
Every TCP connection starts as HTTP/1.1, parsed by ``httptools``. A ``GET {prefix}/app/{key}``
with a WebSocket upgrade switches the connection to WebSocket framing; any other request is
answered by the HTTP API (:mod:`leadcast.realtime.rest`) or the health endpoints, with
keep-alive.

Writes go through :class:`Outbox`, which coalesces everything queued for one socket during
a loop iteration into a single ``transport.write`` (uWebSockets calls this corking). With one
broadcast pending it writes the shared frame straight to every recipient; with several, it
joins each socket's frames first, so four events in flight cost one system call per socket,
not four.

A client that stops reading fills its transport buffer; past ``MAX_BUFFERED`` the server
closes it (4100), so one slow consumer never grows the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Collection
from typing import Any, cast

import httptools

from leadcast import __version__
from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.errors import ErrorCode
from leadcast.protocol.messages import encode_error
from leadcast.protocol.session import Session
from leadcast.realtime.node import Node
from leadcast.realtime.ports import Peer, WebhookSink
from leadcast.realtime.rest import MAX_BODY_BYTES, Response, RestApi
from leadcast.websocket.frames import (
    FrameReader,
    Opcode,
    WebSocketError,
    accept_key,
    encode_close,
    encode_frame,
    encode_text,
)

__all__ = ["Outbox", "RealtimeServer"]

log = logging.getLogger("leadcast.realtime")

#: Bytes queued for one client before it counts as a slow consumer and is closed.
MAX_BUFFERED = 4 * 1024 * 1024
#: Seconds a closing connection waits for the client's close frame.
CLOSE_TIMEOUT = 3.0
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16_384

_STATUS = {
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
_PROTOCOL_VERSIONS = range(5, 8)


class Outbox:
    """The :class:`Writer` of the node: per-iteration write coalescing."""

    __slots__ = ("_loop", "_ops", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ops: list[tuple[bytes, Collection[Any], Any]] = []
        self._scheduled = False

    def send(self, peer: Peer, frame: bytes) -> None:
        self._ops.append((frame, (peer,), None))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def broadcast(self, frame: bytes, peers: Collection[Peer], exclude: Peer | None) -> None:
        if peers:
            self._ops.append((frame, peers, exclude))
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self.flush)

    def close(self, peer: Peer, code: int, reason: str) -> None:
        self.flush()
        if isinstance(peer, Connection):
            peer.close_websocket(code, reason)

    def flush(self) -> None:
        ops = self._ops
        if not ops:
            self._scheduled = False
            return
        self._ops = []
        self._scheduled = False
        if len(ops) > 1:
            ops = _merge_runs(ops)
        if len(ops) == 1:
            frame, peers, exclude = ops[0]
            for peer in peers:
                if peer is not exclude and peer.open:
                    peer.write(frame)
            return
        pending: dict[Any, list[bytes]] = {}
        for frame, peers, exclude in ops:
            for peer in peers:
                if peer is exclude:
                    continue
                frames = pending.get(peer)
                if frames is None:
                    pending[peer] = [frame]
                else:
                    frames.append(frame)
        for peer, frames in pending.items():
            if peer.open:
                peer.write(frames[0] if len(frames) == 1 else b"".join(frames))


def _merge_runs(
    ops: list[tuple[bytes, Collection[Any], Any]],
) -> list[tuple[bytes, Collection[Any], Any]]:
    """Join consecutive operations bound for the same recipients into one frame run.

    Several events to one channel in one iteration then cost one write per socket with
    no per-socket work: the joined bytes are shared.
    """
    merged: list[tuple[bytes, Collection[Any], Any]] = []
    frames: list[bytes] = []
    last_peers: Collection[Any] = ()
    last_exclude: Any = None
    for frame, peers, exclude in ops:
        if frames and exclude is last_exclude and (peers is last_peers or peers == last_peers):
            frames.append(frame)
            continue
        if frames:
            merged.append((b"".join(frames), last_peers, last_exclude))
        frames = [frame]
        last_peers, last_exclude = peers, exclude
    merged.append((b"".join(frames), last_peers, last_exclude))
    return merged


class Connection(asyncio.Protocol):
    """One TCP connection: HTTP requests until it upgrades, then WebSocket frames."""

    __slots__ = (
        "_body",
        "_header_bytes",
        "_headers",
        "_upgrade",
        "_url",
        "closing",
        "open",
        "parser",
        "reader",
        "server",
        "session",
        "transport",
        "write",
    )

    def __init__(self, server: RealtimeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.reader: FrameReader | None = None
        self.session: Session = None  # type: ignore[assignment]  # set on upgrade
        self.open = False
        self.closing = False
        self._reset_request()

    def _reset_request(self) -> None:
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._upgrade = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.write = transport.write
        transport.set_write_buffer_limits(high=MAX_BUFFERED)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.reader is not None:
            self.open = False
            self.server.node.disconnect(self)
        self.parser = None
        self.reader = None

    def pause_writing(self) -> None:
        # The client is not reading and MAX_BUFFERED bytes are queued for it.
        if self.reader is not None and not self.closing:
            log.warning("closing slow consumer %s", self.session.socket_id)
            self.close_websocket(ErrorCode.OVER_CAPACITY, "Client is not reading fast enough")
            assert self.transport is not None
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.reader is not None:
            self._websocket_data(data)
            return
        parser = self.parser
        if parser is None:
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade_request(data[offset:])
        except httptools.HttpParserError:
            self._respond(400, {"error": "malformed HTTP request"}, keep_alive=False)

    # -- HTTP ---------------------------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_HEADER_BYTES:
            raise httptools.HttpParserError("URL too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if len(self._headers) >= MAX_HEADERS or self._header_bytes > MAX_HEADER_BYTES:
            raise httptools.HttpParserError("headers too large")
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self._upgrade = self.parser.should_upgrade()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        if sum(len(part) for part in self._body) > MAX_BODY_BYTES:
            self._respond(413, {"error": f"body over {MAX_BODY_BYTES} bytes"}, keep_alive=False)
            self.parser = None
            raise httptools.HttpParserError("body too large")

    def on_message_complete(self) -> None:
        if self._upgrade or self.parser is None or self.transport is None:
            return
        parser = self.parser
        method = parser.get_method().decode()
        keep_alive = parser.should_keep_alive()
        url = httptools.parse_url(self._url)
        path = (url.path or b"/").decode("latin-1")
        query = (url.query or b"").decode("latin-1")
        body = b"".join(self._body)
        self._reset_request()
        status, payload = self.server.http(method, path, query, body)
        self._respond(status, payload, keep_alive=keep_alive)

    def _respond(self, status: int, payload: dict[str, Any], *, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status} {_STATUS.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        if not keep_alive:
            self.transport.close()

    # -- WebSocket ----------------------------------------------------------------------------

    def _upgrade_request(self, rest: bytes) -> None:
        assert self.parser is not None and self.transport is not None
        url = httptools.parse_url(self._url)
        path = (url.path or b"/").decode("latin-1")
        query = (url.query or b"").decode("latin-1")
        headers = self._headers
        key = headers.get(b"sec-websocket-key", b"").decode("latin-1").strip()
        app_key = self.server.ws_app_key(path)
        if app_key is None:
            self._respond(
                404, {"error": f"no WebSocket endpoint at {path[:200]}"}, keep_alive=False
            )
            return
        if (
            self.parser.get_method() != b"GET"
            or b"websocket" not in headers.get(b"upgrade", b"").lower()
            or headers.get(b"sec-websocket-version") != b"13"
            or len(key) != 24
        ):
            self._respond(
                426, {"error": "expected a WebSocket upgrade (version 13)"}, keep_alive=False
            )
            return
        self.transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        self.parser = None
        self._headers = {}
        self._url = b""
        refusal, app = self.server.admit(app_key, query)
        if refusal is not None:
            code, reason = refusal
            self.transport.write(
                encode_text(encode_error(reason, code)) + encode_close(code, reason)
            )
            self.closing = True
            self.transport.close()
            return
        assert app is not None
        self.reader = FrameReader(app.max_message_bytes)
        self.session = Session(app, self.server.next_socket_id(), time.monotonic())
        self.open = True
        self.server.node.connect(self, time.monotonic())
        if rest:
            self._websocket_data(rest)

    def _websocket_data(self, data: bytes) -> None:
        reader = self.reader
        if reader is None:
            return
        try:
            messages = reader.feed(data)
        except WebSocketError as error:
            self.close_websocket(error.code, error.reason)
            return
        if self.closing:
            # Waiting for the client's close frame; everything else is ignored.
            if any(message.opcode is Opcode.CLOSE for message in messages):
                self._peer_closed(1000)
            return
        node = self.server.node
        for message in messages:
            opcode = message.opcode
            now = time.monotonic()
            if opcode is Opcode.TEXT:
                assert message.text is not None
                node.receive(self, message.text, now)
            elif opcode is Opcode.PING:
                self.session.activity(now)
                self.server.outbox.send(self, encode_frame(Opcode.PONG, message.payload))
            elif opcode is Opcode.PONG:
                self.session.activity(now)
            elif opcode is Opcode.CLOSE:
                self._peer_closed(message.code)
                return
            else:
                self.close_websocket(1003, "binary messages are not supported")
                return
            if self.closing:
                return

    def _peer_closed(self, code: int) -> None:
        if not self.closing:
            self.server.outbox.flush()
            reply = 1000 if code == 1005 else code
            self.write(encode_close(reply))
        self.closing = True
        self.open = False
        assert self.transport is not None
        self.transport.close()

    def close_websocket(self, code: int, reason: str) -> None:
        """Send a close frame; drop the TCP connection once the client answers (or not)."""
        if self.closing or self.transport is None:
            return
        self.closing = True
        self.open = False
        self.session.closed = True
        self.write(encode_close(code, reason))
        transport = self.transport
        self.server.loop.call_later(CLOSE_TIMEOUT, transport.abort)
        self.server.node.disconnect(self)


class RealtimeServer:
    """Owns the apps, the node, the HTTP API and the listening socket."""

    def __init__(
        self,
        apps: AppRegistry,
        *,
        path_prefix: str = "",
        loop: asyncio.AbstractEventLoop,
        webhooks: WebhookSink | None = None,
    ) -> None:
        self.apps = apps
        self.loop = loop
        self.outbox = Outbox(loop)
        self.node = Node(apps, self.outbox, webhooks)
        self.rest = RestApi(apps, self.node)
        self.path_prefix = path_prefix.rstrip("/")
        self.connections: set[Connection] = set()
        self.started = time.time()
        self.ready = False
        self._ws_path = re.compile(re.escape(self.path_prefix) + r"/app/(?P<key>[^/]+)")
        self._socket_prefix = str(random.SystemRandom().randint(100_000_000, 999_999_999))
        self._socket_counter = 0
        self._server: asyncio.base_events.Server | None = None
        self._ticker: asyncio.TimerHandle | None = None

    # -- connections --------------------------------------------------------------------------

    def next_socket_id(self) -> str:
        self._socket_counter += 1
        return f"{self._socket_prefix}.{self._socket_counter}"

    def ws_app_key(self, path: str) -> str | None:
        match = self._ws_path.fullmatch(path)
        return match["key"] if match is not None else None

    def admit(self, key: str, query: str) -> tuple[tuple[int, str] | None, App | None]:
        """Decide whether a WebSocket may join: a refusal (code, reason) or its app."""
        app = self.apps.by_key(key)
        if app is None:
            return (ErrorCode.APP_NOT_FOUND, f"App key {key[:100]} not in this cluster"), None
        if not app.enabled:
            return (ErrorCode.APP_DISABLED, "App is disabled"), None
        protocol = dict(part.partition("=")[::2] for part in query.split("&")).get("protocol")
        if protocol is None:
            return (ErrorCode.NO_PROTOCOL_VERSION, "No protocol version supplied"), None
        if not protocol.isdigit():
            return (ErrorCode.INVALID_VERSION_FORMAT, "Invalid version string format"), None
        if int(protocol) not in _PROTOCOL_VERSIONS:
            return (
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"Unsupported protocol version {protocol[:10]}",
            ), None
        if self.node.over_quota(app):
            return (ErrorCode.OVER_CONNECTION_QUOTA, "Over connection quota"), None
        return None, app

    # -- HTTP ---------------------------------------------------------------------------------

    def http(self, method: str, path: str, query: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path in ("/", "/health", "/up", "/ready"):
            if method != "GET":
                return 405, {"error": "health endpoints take GET"}
            status = 200 if self.ready or path != "/ready" else 503
            return status, {
                "status": "ok" if self.ready else "stopping",
                "version": __version__,
                "apps": len(self.apps),
                "connections": self.node.connections,
                "uptime_seconds": round(time.time() - self.started, 1),
            }
        if self.path_prefix and path.startswith(self.path_prefix + "/"):
            path = path[len(self.path_prefix) :]
        response: Response | None = self.rest.handle(
            method, path, query, body, time.time(), monotonic=time.monotonic()
        )
        if response is None:
            return 404, {"error": f"no such endpoint: {path[:200]}"}
        return response.status, response.body

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await self.loop.create_server(
            lambda: Connection(self), host, port, reuse_address=True, backlog=4096
        )
        self.ready = True
        self._schedule_tick()
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    def _tick_interval(self) -> float:
        shortest = min(min(app.activity_timeout, app.pong_timeout) for app in self.apps)
        return max(0.1, min(1.0, shortest / 4))

    def _schedule_tick(self) -> None:
        self._ticker = self.loop.call_later(self._tick_interval(), self._tick)

    def _tick(self) -> None:
        self.node.tick(time.monotonic())
        self._schedule_tick()

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, then close every WebSocket with 4200 spread over ``grace`` seconds,
        so that clients do not all reconnect to the next server in the same instant."""
        self.ready = False
        if self._ticker is not None:
            self._ticker.cancel()
        if self._server is not None:
            self._server.close()
        sockets = [c for c in self.connections if c.reader is not None]
        random.shuffle(sockets)
        batches = max(1, min(20, len(sockets) // 100))
        size = -(-len(sockets) // batches) if sockets else 0
        for index in range(batches):
            for connection in sockets[index * size : (index + 1) * size]:
                self.outbox.close(connection, ErrorCode.GENERIC_RECONNECT, "Server shutting down")
            if index < batches - 1:
                await asyncio.sleep(grace / batches)
        for connection in list(self.connections):
            if connection.reader is None and connection.transport is not None:
                connection.transport.close()
        await asyncio.sleep(0.05)
