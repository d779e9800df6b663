"""One TCP connection: HTTP/1.1 requests until it upgrades, then WebSocket frames.

Theory of operation
-------------------
A connection starts in the HTTP phase, parsed by ``httptools``. Until it upgrades it is
*pending*: it sits in ``server.pending`` (at most ``limits.max_pending`` connections; a new
one beyond that is answered 503 and closed) and carries a ``deadline`` that the server's
periodic tick compares with the clock, so a waiting connection costs no timer of its own::

    FRESH ──request begins──► REQUEST ──answered, keep-alive──► IDLE ──request begins──┐
      │                         │  ▲                              │                     │
      │ deadline: close         │  └──────────────────────────────┼─────────────────────┘
      │                         │ deadline: 408 ─┐                │ deadline: close
      ▼                         ▼                ▼                ▼
    closed          answered, close ──────► LINGER ──client EOF or deadline──► closed

- FRESH: accepted, nothing received. The whole first request must arrive within
  ``request_timeout`` of connecting.
- REQUEST: a request has begun. On a kept-alive connection its deadline starts with its
  first byte; head and body must both arrive before it.
- IDLE: answered and kept alive; closed without a word after ``keepalive_timeout``.
- LINGER: a response that ends the connection was sent and our side shut down (write EOF).
  Input is read and dropped until the client closes, for at most ``LINGER`` seconds, so that
  unread input does not turn our close into a reset that destroys the response in flight.

A ``GET {prefix}/app/{key}`` handshake leaves the HTTP phase for good: the connection drops
out of ``pending`` and from then on only WebSocket rules apply (activity pings, 4100 for a
client that stops reading, the close handshake).

``httptools`` buffers a header line until it is complete, so the head is fed in slices of
``HEAD_SLICE`` bytes and counted: one endless header line is refused (431) after
``MAX_HEAD_BYTES`` (:mod:`leadcast.realtime.wire`), not buffered without bound.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import httptools

from leadcast.protocol.errors import ErrorCode
from leadcast.protocol.messages import encode_error
from leadcast.protocol.session import Session
from leadcast.realtime.rest import MAX_BODY_BYTES
from leadcast.realtime.wire import (
    HEAD_SLICE,
    MAX_HEAD_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_URL_BYTES,
    Reject,
    encode_response,
    handshake_problem,
)
from leadcast.websocket.frames import (
    FrameReader,
    Opcode,
    WebSocketError,
    accept_key,
    encode_close,
    encode_frame,
    encode_text,
)

if TYPE_CHECKING:
    from leadcast.realtime.server import RealtimeServer

__all__ = ["CLOSE_TIMEOUT", "LINGER", "MAX_BUFFERED", "Connection", "Phase"]

log = logging.getLogger("leadcast.realtime")

#: Bytes queued for one client before it counts as a slow consumer and is dropped.
MAX_BUFFERED = 4 * 1024 * 1024
#: Seconds a closing WebSocket waits for the client's close frame.
CLOSE_TIMEOUT = 3.0
#: Seconds a connection answered with ``Connection: close`` waits for the client to close.
LINGER = 2.0
_CLOSE = "Connection: close\r\n"


class Phase(enum.Enum):
    """Where a connection is in its HTTP life (see the module's theory of operation)."""

    FRESH = "fresh"
    REQUEST = "request"
    IDLE = "idle"
    LINGER = "linger"
    WEBSOCKET = "websocket"


class Connection(asyncio.Protocol):
    """One TCP connection: HTTP requests until it upgrades, then WebSocket frames."""

    __slots__ = (
        "_body",
        "_body_bytes",
        "_head_bytes",
        "_head_done",
        "_header_bytes",
        "_headers",
        "_replying",
        "_upgrade",
        "_url",
        "closing",
        "deadline",
        "open",
        "parser",
        "phase",
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
        self.phase = Phase.FRESH
        #: Monotonic time by which the current phase must end (pending and lingering only).
        self.deadline = 0.0
        #: The answer being awaited (one that needs the cluster state); later answers wait.
        self._replying: asyncio.Task[None] | None = None
        self._reset_request()

    def _reset_request(self) -> None:
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._head_bytes = 0
        self._head_done = False
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._upgrade = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.write = transport.write
        transport.set_write_buffer_limits(high=MAX_BUFFERED)
        server = self.server
        server.connections.add(self)
        if len(server.pending) >= server.limits.max_pending:
            log.debug("over %d pending connections: 503", server.limits.max_pending)
            self._respond(
                503,
                {"error": "too many connections waiting to complete a request; retry shortly"},
                keep_alive=False,
            )
            return
        server.pending.add(self)
        self.deadline = time.monotonic() + server.limits.request_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        server = self.server
        server.connections.discard(self)
        server.pending.discard(self)
        server.lingering.discard(self)
        if self.reader is not None:
            self.open = False
            server.node.disconnect(self)
        self.parser = None
        self.reader = None
        if self._replying is not None:
            self._replying.cancel()

    def pause_writing(self) -> None:
        # The client is not reading and MAX_BUFFERED bytes are queued for it. The close frame
        # goes behind them, so a client that never reads again sees the reset, not the 4100.
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
            return  # lingering after a final response: input is dropped
        try:
            self._feed(parser, data)
        except httptools.HttpParserError as error:
            rejected = error if isinstance(error, Reject) else error.__context__
            if isinstance(rejected, Reject):
                self._respond(rejected.status, {"error": rejected.message}, keep_alive=False)
            else:
                self._respond(400, {"error": "malformed HTTP request"}, keep_alive=False)

    def _feed(self, parser: httptools.HttpRequestParser, data: bytes) -> None:
        """Parse ``data``; an incomplete head goes in counted slices (see the module doc)."""
        start, end = 0, len(data)
        while start < end:
            in_head = not self._head_done
            stop = min(end, start + HEAD_SLICE) if in_head else end
            piece = data if start == 0 and stop == end else memoryview(data)[start:stop]
            try:
                parser.feed_data(piece)
            except httptools.HttpParserUpgrade as upgrade:
                offset = upgrade.args[0] if upgrade.args else len(piece)
                self._upgrade_request(data[start + offset :])
                return
            if self.parser is None:
                return
            if in_head and not self._head_done:
                self._head_bytes += stop - start
                if self._head_bytes > MAX_HEAD_BYTES:
                    raise Reject(431, f"request head over {MAX_HEAD_BYTES} bytes")
            start = stop

    # -- HTTP ---------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.phase is Phase.IDLE:
            self.deadline = time.monotonic() + self.server.limits.request_timeout
        self.phase = Phase.REQUEST

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise Reject(414, f"request target over {MAX_URL_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if len(self._headers) >= MAX_HEADERS:
            raise Reject(431, f"more than {MAX_HEADERS} headers")
        if self._header_bytes > MAX_HEADER_BYTES:
            raise Reject(431, f"headers over {MAX_HEADER_BYTES} bytes")
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self._head_done = True
        self._upgrade = self.parser.should_upgrade()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_bytes += len(body)
        if self._body_bytes > MAX_BODY_BYTES:
            raise Reject(413, f"body over {MAX_BODY_BYTES} bytes")

    def on_message_complete(self) -> None:
        if self._upgrade or self.parser is None or self.transport is None:
            return
        parser = self.parser
        method = parser.get_method().decode()
        # A stopping server answers what it already received, then lets the connection go.
        keep_alive = parser.should_keep_alive() and self.server.ready
        url = httptools.parse_url(self._url)
        path = (url.path or b"/").decode("latin-1")
        query = (url.query or b"").decode("latin-1")
        body = b"".join(self._body)
        self._reset_request()
        answer = self.server.http(method, path, query, body)
        if self._replying is None and isinstance(answer, tuple):
            self._respond(*answer, keep_alive=keep_alive)
        else:
            self._answer_later(answer, keep_alive)

    def _answer_later(
        self,
        answer: tuple[int, dict[str, Any]] | Awaitable[tuple[int, dict[str, Any]]],
        keep_alive: bool,
    ) -> None:
        """Respond once ``answer`` is ready, after the answers before it; read nothing more
        meanwhile, so that pipelined requests are answered in order."""
        before = self._replying

        async def reply() -> None:
            if before is not None:
                await asyncio.wait([before])
            status, payload = answer if isinstance(answer, tuple) else await answer
            self._respond(status, payload, keep_alive=keep_alive)

        task = self.server.loop.create_task(reply())
        self._replying = task
        assert self.transport is not None
        self.transport.pause_reading()

        def done(finished: asyncio.Task[None]) -> None:
            if self._replying is finished:
                self._replying = None
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.resume_reading()
            if not finished.cancelled() and finished.exception() is not None:
                log.error("HTTP answer failed", exc_info=finished.exception())

        task.add_done_callback(done)

    def _respond(self, status: int, payload: dict[str, Any], *, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.phase is Phase.LINGER:
            return
        server = self.server
        connection = server.keep_alive_headers if keep_alive else _CLOSE
        transport.write(encode_response(status, payload, connection))
        if keep_alive:
            self.phase = Phase.IDLE
            self.deadline = time.monotonic() + server.limits.keepalive_timeout
        else:
            self._linger()

    def _linger(self) -> None:
        """Shut our side down after a final response; drop input until the client closes."""
        assert self.transport is not None
        server = self.server
        server.pending.discard(self)
        server.lingering.add(self)
        self.parser = None
        self.phase = Phase.LINGER
        self.deadline = time.monotonic() + LINGER
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:  # pragma: no cover - TCP transports can always write EOF
            self.transport.close()

    def expire(self) -> None:
        """The phase's deadline passed (called from the server's tick)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        phase = self.phase
        if phase is Phase.REQUEST:
            timeout = self.server.limits.request_timeout
            self._respond(
                408, {"error": f"request not completed within {timeout:g} s"}, keep_alive=False
            )
        elif phase is Phase.LINGER:
            self.server.lingering.discard(self)
            transport.abort()
        elif phase is not Phase.WEBSOCKET:
            # FRESH or IDLE: no request is under way, so there is nothing to answer.
            self.server.pending.discard(self)
            self.parser = None
            transport.close()

    # -- WebSocket ----------------------------------------------------------------------------

    def _upgrade_request(self, rest: bytes) -> None:
        assert self.parser is not None and self.transport is not None
        url = httptools.parse_url(self._url)
        path = (url.path or b"/").decode("latin-1")
        query = (url.query or b"").decode("latin-1")
        key = self._headers.get(b"sec-websocket-key", b"").decode("latin-1").strip()
        app_key = self.server.ws_app_key(path)
        if app_key is None:
            problem: tuple[int, str] | None = (404, f"no WebSocket endpoint at {path[:200]}")
        elif not self.server.ready:
            problem = (503, "server shutting down")
        else:
            problem = handshake_problem(self.parser.get_method(), self._headers, key)
        if problem is not None:
            self._respond(problem[0], {"error": problem[1]}, keep_alive=False)
            return
        assert app_key is not None
        self.transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        self.server.pending.discard(self)
        self.phase = Phase.WEBSOCKET
        self.parser = None
        self._reset_request()
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
