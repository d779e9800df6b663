"""The network side: one asyncio server for HTTP and WebSocket on one port.

Theory of operation
-------------------
Every TCP connection is a :class:`~leadcast.realtime.connection.Connection`: HTTP/1.1
until a ``GET {prefix}/app/{key}`` upgrades it to WebSocket framing. Other requests are
answered by the HTTP API (:mod:`leadcast.realtime.rest`) or the health endpoints, with
keep-alive. A connection that has not upgraded is *pending* and bounded by
:class:`HttpLimits`: a deadline for a complete request, an idle keep-alive timeout and a cap
on how many may be pending at once. One periodic tick drives both the WebSocket keepalive
(:meth:`Node.tick`) and those deadlines, so an idle connection carries no timer.

Writes go through :class:`Outbox`, which coalesces everything queued for one socket during
a loop iteration into a single ``transport.write`` (uWebSockets calls this corking). With one
broadcast pending it writes the shared frame straight to every recipient; with several, it
joins each socket's frames first, so four events in flight cost one system call per socket,
not four.

A client that stops reading fills its transport buffer; past ``MAX_BUFFERED`` the server
drops it (4100), so one slow consumer never grows the server's memory without bound.

On :meth:`RealtimeServer.stop`, ``/ready`` turns 503, the listening socket closes, every
WebSocket is closed with 4200 in batches spread over a grace period, and the server waits
for the close handshakes before letting the remaining HTTP connections go.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any

from leadcast import __version__
from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.errors import ConfigError, ErrorCode
from leadcast.realtime.connection import CLOSE_TIMEOUT, Connection
from leadcast.realtime.node import Node
from leadcast.realtime.ports import Broker, ClusterState, Peer, WebhookSink
from leadcast.realtime.rest import Response, RestApi

__all__ = ["HttpLimits", "Outbox", "RealtimeServer"]

log = logging.getLogger("leadcast.realtime")

_PROTOCOL_VERSIONS = range(5, 8)
_HEALTH_PATHS = frozenset(("/", "/health", "/up", "/ready"))


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on connections that are not (yet) WebSockets.

    Attributes:
        request_timeout: seconds to send one complete request (head and body, or the
            WebSocket handshake), counted from connecting or, on a kept-alive connection,
            from the request's first byte. Past it: 408, or a silent close if nothing came.
        keepalive_timeout: seconds an idle kept-alive HTTP connection stays open.
        max_pending: connections that may be pending at once; a new one beyond that is
            answered 503 and closed. WebSockets do not count.
    """

    request_timeout: float = 10.0
    keepalive_timeout: float = 30.0
    max_pending: int = 1000

    def check(self) -> HttpLimits:
        """Return ``self`` when every limit is in range.

        Raises:
            ConfigError: naming the first limit out of range.
        """
        for name in ("request_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if not 0.05 <= value <= 3600:
                raise ConfigError(f"{name} must be 0.05-3600 seconds, not {value}")
        if not 1 <= self.max_pending <= 1_000_000:
            raise ConfigError(f"max_pending must be 1-1000000, not {self.max_pending}")
        return self


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


async def _later(pending: Awaitable[Response]) -> tuple[int, dict[str, Any]]:
    response = await pending
    return response.status, response.body


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


class RealtimeServer:
    """Owns the apps, the node, the HTTP API and the listening socket."""

    def __init__(
        self,
        apps: AppRegistry,
        *,
        path_prefix: str = "",
        loop: asyncio.AbstractEventLoop,
        webhooks: WebhookSink | None = None,
        limits: HttpLimits | None = None,
        broker: Broker | None = None,
        cluster: ClusterState | None = None,
    ) -> None:
        self.apps = apps
        self.loop = loop
        self.limits = (limits or HttpLimits()).check()
        self.outbox = Outbox(loop)
        self.node = Node(apps, self.outbox, webhooks, broker=broker, cluster=cluster)
        self.path_prefix = path_prefix.rstrip("/")
        self.rest = RestApi(apps, self.node, path_prefix=self.path_prefix)
        self.connections: set[Connection] = set()
        #: Connections that have not upgraded (see :class:`HttpLimits`), and those answered
        #: with ``Connection: close`` that wait a moment for the client to close.
        self.pending: set[Connection] = set()
        self.lingering: set[Connection] = set()
        #: Response headers of a kept-alive connection; ``Keep-Alive`` rounds down, so a
        #: client never reuses a connection the server is about to close.
        self.keep_alive_headers = (
            "Connection: keep-alive\r\n"
            f"Keep-Alive: timeout={int(self.limits.keepalive_timeout)}\r\n"
        )
        self.started = time.time()
        self.ready = False
        self._ws_path = re.compile(re.escape(self.path_prefix) + r"/app/(?P<key>[^/]+)")
        #: Socket ids are ``{node id}.{counter}``: unique among the cluster's live nodes.
        self._socket_prefix = self.node.node_id
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

    def http(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[int, dict[str, Any]] | Awaitable[tuple[int, dict[str, Any]]]:
        """Answer one plain HTTP request: health, a hint for the WebSocket path, or the API.

        Every path is served with and without the path prefix. Answers that need the cluster
        state come as an awaitable.
        """
        prefix = self.path_prefix
        local = path
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            local = path[len(prefix) :] or "/"
        if local in _HEALTH_PATHS:
            if method != "GET":
                return 405, {"error": "health endpoints take GET"}
            status = 200 if self.ready or local != "/ready" else 503
            return status, {
                "status": "ok" if self.ready else "stopping",
                "version": __version__,
                "apps": len(self.apps),
                "connections": self.node.connections,
                "uptime_seconds": round(time.time() - self.started, 1),
            }
        if self.ws_app_key(path) is not None:
            return 426, {"error": f"{path[:200]} is a WebSocket endpoint: upgrade to WebSocket"}
        response = self.rest.handle(
            method, path, query, body, time.time(), monotonic=time.monotonic()
        )
        if response is None:
            return 404, {"error": f"no such endpoint: {local[:200]}"}
        if isinstance(response, Response):
            return response.status, response.body
        return _later(response)

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
        limits = self.limits
        shortest = min(
            limits.request_timeout,
            limits.keepalive_timeout,
            *(min(app.activity_timeout, app.pong_timeout) for app in self.apps),
        )
        return max(0.1, min(1.0, shortest / 4))

    def _schedule_tick(self) -> None:
        self._ticker = self.loop.call_later(self._tick_interval(), self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self.node.tick(now)
        for group in (self.pending, self.lingering):
            if group:
                for connection in [c for c in group if c.deadline <= now]:
                    connection.expire()
        self._schedule_tick()

    @property
    def websockets(self) -> int:
        """Connections that are neither pending nor lingering: WebSockets, open or closing."""
        return len(self.connections) - len(self.pending) - len(self.lingering)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, then close every WebSocket with 4200 spread over ``grace`` seconds,
        so that clients do not all reconnect to the next server in the same instant.

        ``/ready`` answers 503 from the start; HTTP connections are let go once the
        WebSockets have finished their close handshakes (at most ``CLOSE_TIMEOUT`` later).
        """
        self.ready = False
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
        deadline = time.monotonic() + CLOSE_TIMEOUT + 0.5
        while self.websockets > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._ticker is not None:
            self._ticker.cancel()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        await asyncio.sleep(0.05)
