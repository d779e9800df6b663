"""Small synchronous clients for the end-to-end tests.

- :class:`PusherSocket`: a raw Pusher-protocol WebSocket client (``websockets`` sync API) that
  receives JSON messages with a timeout, decodes the double-encoded ``data`` of protocol events
  and can assert that nothing more arrives within a time window.
- :func:`sign_api_request` / :class:`Api`: the Pusher HTTP API signature, written from the spec
  (not taken from the SDK), and a tiny ``http.client`` based caller.
- :func:`channel_auth` / :func:`user_auth`: subscription and sign-in signatures.
- :class:`RawWebSocket`: hand-built frames ``websockets`` refuses to send (invalid UTF-8,
  unmasked), and a look at what the server does with TCP after the close handshake.

Every receive has a timeout, so a misbehaving server fails a test instead of hanging it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import os
import select
import socket
import struct
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

DEFAULT_TIMEOUT = 5.0
QUIET = 0.3
PROTOCOL_QUERY = "protocol=7&client=js&version=8.4.0&flash=false"

_counter = itertools.count(1)


def unique(prefix: str = "ch") -> str:
    """A channel-name-safe unique name, so tests sharing a server never collide."""
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def channel_auth(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """``<key>:<hex HMAC-SHA256(secret, "<socket_id>:<channel>[:<channel_data>]")>``."""
    to_sign = f"{socket_id}:{channel}"
    if channel_data is not None:
        to_sign += f":{channel_data}"
    return f"{key}:{hmac_hex(secret, to_sign)}"


def user_auth(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """``<key>:<hex HMAC(secret, "<socket_id>::user::<user_data>")>``."""
    return f"{key}:{hmac_hex(secret, f'{socket_id}::user::{user_data}')}"


# --------------------------------------------------------------------------- WebSocket


@dataclass
class Message:
    """One server → client message.

    ``data`` is the decoded JSON of ``raw["data"]`` for ``pusher:``/``pusher_internal:`` events
    sent as a JSON string (the protocol's double encoding); for channel events it is the raw
    value, exactly as sent on the wire.
    """

    event: str
    channel: str | None
    data: Any
    raw: dict[str, Any]

    @property
    def is_protocol(self) -> bool:
        return self.event.startswith(("pusher:", "pusher_internal:"))

    def json(self) -> Any:
        """Decode ``raw["data"]`` when it is a string, else return it unchanged."""
        value = self.raw.get("data")
        return json.loads(value) if isinstance(value, str) else value


def _decode(text: str | bytes) -> Message:
    assert isinstance(text, str), f"server sent a binary frame: {text!r}"
    raw = json.loads(text)
    assert isinstance(raw, dict), f"server message is not a JSON object: {text}"
    assert isinstance(raw.get("event"), str), f"server message without event: {text}"
    event = raw["event"]
    data = raw.get("data")
    if event.startswith(("pusher:", "pusher_internal:")) and isinstance(data, str) and data:
        data = json.loads(data)
    return Message(event, raw.get("channel"), data, raw)


class ClosedError(AssertionError):
    """The connection closed while a message was expected."""

    def __init__(self, code: int | None, reason: str | None, messages: list[Message]):
        super().__init__(
            f"connection closed (code {code}, reason {reason!r}) while waiting for a message; "
            f"received before: {[m.raw for m in messages]}"
        )
        self.code = code
        self.reason = reason


@dataclass
class PusherSocket:
    conn: ClientConnection
    established: Message | None = None
    history: list[Message] = field(default_factory=list)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        base_url: str,
        key: str,
        *,
        query: str | None = PROTOCOL_QUERY,
        expect_established: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> PusherSocket:
        url = f"{base_url}/app/{key}"
        if query is not None:
            url += f"?{query}"
        conn = connect(
            url,
            open_timeout=timeout,
            # after the close handshake, stop waiting for the server to drop TCP after 0.5 s
            close_timeout=0.5,
            ping_interval=None,  # no keepalive pings of our own: they would count as activity
            compression=None,
            max_size=None,
        )
        # entering the context marks it as managed (websockets >= 17.1 warns otherwise);
        # close() ends it
        conn.__enter__()
        sock = cls(conn)
        if expect_established:
            sock.established = sock.expect("pusher:connection_established", timeout=timeout)
        return sock

    @property
    def socket_id(self) -> str:
        assert self.established is not None
        socket_id = self.established.data["socket_id"]
        assert isinstance(socket_id, str)
        return socket_id

    def __enter__(self) -> PusherSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ sending

    def send_json(self, message: Mapping[str, Any]) -> None:
        self.conn.send(json.dumps(message))

    def send_raw(self, payload: str | bytes) -> None:
        self.conn.send(payload)

    def send_event(self, event: str, data: Any = None, channel: str | None = None) -> None:
        message: dict[str, Any] = {"event": event}
        if data is not None:
            message["data"] = data
        if channel is not None:
            message["channel"] = channel
        self.send_json(message)

    # ------------------------------------------------------------------ receiving

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Message:
        try:
            text = self.conn.recv(timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"no message within {timeout} s (close frame: {self.close_frame_received()}); "
                "received before: "
                f"{[m.raw for m in self.history[-5:]]}"
            ) from None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            reason = exc.rcvd.reason if exc.rcvd else None
            raise ClosedError(code, reason, self.history[-5:]) from None
        message = _decode(text)
        self.history.append(message)
        return message

    def expect(
        self, event: str, channel: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Message:
        """The next message must be ``event`` (on ``channel`` when given)."""
        message = self.recv(timeout)
        assert message.event == event, f"expected {event}, got {message.raw}"
        if channel is not None:
            assert message.channel == channel, f"expected channel {channel}, got {message.raw}"
        return message

    def recv_n(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        return [self.recv(timeout) for _ in range(count)]

    def drain(self, within: float = QUIET) -> list[Message]:
        """Everything that arrives until ``within`` seconds pass without a message."""
        messages: list[Message] = []
        while True:
            try:
                text = self.conn.recv(timeout=within)
            except (TimeoutError, ConnectionClosed):
                return messages
            message = _decode(text)
            self.history.append(message)
            messages.append(message)

    def close_frame_received(self) -> int | None:
        """The code of the server's close frame if one arrived (before TCP is closed), else None.

        ``websockets`` only raises ConnectionClosed once TCP is down; the close frame itself is
        what the contract is about, so the tests look at it directly.
        """
        rcvd = self.conn.protocol.close_rcvd
        if rcvd is not None:
            return rcvd.code
        return None

    def assert_silent(self, within: float = QUIET) -> None:
        """Nothing arrives (and the connection does not close) within ``within`` seconds."""
        try:
            text = self.conn.recv(timeout=within)
        except TimeoutError:
            code = self.close_frame_received()
            assert code is None, f"expected silence, the server sent close {code}"
            return
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise AssertionError(f"expected silence, the connection closed with {code}") from None
        raise AssertionError(f"expected nothing within {within} s, got {text!r}")

    def expect_close(self, code: int, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Read until the server's close frame; assert its code. Returns what arrived before."""
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        close_seen_at: float | None = None
        while True:
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(
                    f"connection still open after {timeout} s (expected close {code}); "
                    f"received: {[m.raw for m in messages]}"
                )
            try:
                text = self.conn.recv(timeout=0.05)
            except TimeoutError:
                received = self.close_frame_received()
                if received is None:
                    continue
                if close_seen_at is None:  # let messages queued just before it through
                    close_seen_at = now
                    continue
                if now - close_seen_at < 0.1:
                    continue
                assert received == code, (
                    f"expected close code {code}, got {received}; "
                    f"received before: {[m.raw for m in messages]}"
                )
                return messages
            except ConnectionClosed as exc:
                received = exc.rcvd.code if exc.rcvd else None
                assert received == code, (
                    f"expected close code {code}, got {received} "
                    f"(reason {exc.rcvd.reason if exc.rcvd else None!r}); "
                    f"received before: {[m.raw for m in messages]}"
                )
                return messages
            message = _decode(text)
            self.history.append(message)
            messages.append(message)

    def assert_alive(self) -> None:
        """``pusher:ping`` is answered with ``pusher:pong``: the connection still works."""
        self.send_event("pusher:ping", {})
        self.expect("pusher:pong")

    # ------------------------------------------------------------------ Pusher operations

    def send_subscribe(
        self, channel: str, auth: str | None = None, channel_data: str | None = None
    ) -> None:
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        self.send_event("pusher:subscribe", data)

    def subscribe(
        self, channel: str, auth: str | None = None, channel_data: str | None = None
    ) -> Message:
        self.send_subscribe(channel, auth, channel_data)
        return self.expect("pusher_internal:subscription_succeeded", channel)

    def subscribe_private(self, app: Mapping[str, Any], channel: str) -> Message:
        return self.subscribe(
            channel, channel_auth(app["key"], app["secret"], self.socket_id, channel)
        )

    def subscribe_presence(
        self,
        app: Mapping[str, Any],
        channel: str,
        user_id: Any,
        user_info: Any = None,
    ) -> Message:
        payload: dict[str, Any] = {"user_id": user_id}
        if user_info is not None:
            payload["user_info"] = user_info
        channel_data = json.dumps(payload)
        auth = channel_auth(app["key"], app["secret"], self.socket_id, channel, channel_data)
        return self.subscribe(channel, auth, channel_data)

    def expect_subscription_error(
        self, channel: str, status: int, code: int | None = None
    ) -> tuple[Message, Message]:
        """``pusher:error`` (with ``code``, or none) and ``pusher:subscription_error``."""
        first, second = self.recv_n(2)
        by_event = {first.event: first, second.event: second}
        assert set(by_event) == {"pusher:error", "pusher:subscription_error"}, (
            f"expected pusher:error and pusher:subscription_error, got {first.raw}, {second.raw}"
        )
        error = by_event["pusher:error"]
        assert isinstance(error.data, dict), error.raw
        assert error.data.get("code") == code, f"expected code {code}: {error.raw}"
        assert isinstance(error.data.get("message"), str), error.raw
        sub_error = by_event["pusher:subscription_error"]
        assert sub_error.channel == channel, sub_error.raw
        assert isinstance(sub_error.data, dict), sub_error.raw
        assert sub_error.data.get("status") == status, f"expected status {status}: {sub_error.raw}"
        assert isinstance(sub_error.data.get("type"), str), sub_error.raw
        assert isinstance(sub_error.data.get("error"), str), sub_error.raw
        return error, sub_error

    def expect_error(self, code: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> Message:
        """The next message is ``pusher:error`` with ``code`` (``None``: no code)."""
        message = self.expect("pusher:error", timeout=timeout)
        assert isinstance(message.data, dict), message.raw
        assert message.data.get("code") == code, f"expected code {code}: {message.raw}"
        assert isinstance(message.data.get("message"), str), message.raw
        return message

    def signin(self, app: Mapping[str, Any], user: Mapping[str, Any]) -> Message:
        user_data = json.dumps(user)
        self.send_event(
            "pusher:signin",
            {
                "auth": user_auth(app["key"], app["secret"], self.socket_id, user_data),
                "user_data": user_data,
            },
        )
        return self.expect("pusher:signin_success")


# --------------------------------------------------------------------------- HTTP API


def md5_hex(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def sign_api_request(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """``hex HMAC-SHA256(secret, "METHOD\\nPATH\\nSORTED_QUERY")``, query not URL-escaped."""
    items = sorted(
        ((k.lower(), str(v)) for k, v in params.items() if k != "auth_signature"),
        key=lambda kv: kv[0],
    )
    query = "&".join(f"{k}={v}" for k, v in items)
    return hmac_hex(secret, f"{method}\n{path}\n{query}")


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {self.body[:300]!r})"


def http_request(
    host: str,
    port: int,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> HttpResponse:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        all_headers = {"Connection": "close"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        conn.request(method, target, body=body, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return HttpResponse(response.status, data, {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


def http_request_streaming(
    host: str, port: int, method: str, target: str, body: bytes, timeout: float = 10.0
) -> HttpResponse:
    """Send a large body in chunks, stopping early if the server answers (e.g. 413) first."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    received = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head)
        view = memoryview(body)
        sent = 0
        deadline = time.monotonic() + timeout
        while sent < len(body):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sent += sock.send(view[sent : sent + 65536])
            except (BrokenPipeError, ConnectionResetError):
                break
            if time.monotonic() > deadline:
                raise AssertionError("timed out sending the body")
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if _complete_response(received):
                break
    assert received, "no HTTP response"
    head_bytes, _, rest = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return HttpResponse(status, rest[:length], headers)


def _complete_response(data: bytes) -> bool:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(rest) >= int(value.strip())
    return False


class Api:
    """A Pusher HTTP API caller signing requests with :func:`sign_api_request`."""

    def __init__(self, host: str, port: int, app: Mapping[str, Any]):
        self.host = host
        self.port = port
        self.app = app

    @property
    def prefix(self) -> str:
        return f"/apps/{self.app['id']}"

    def signed_target(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        key: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        body_md5: str | None = None,
        with_body_md5: bool | None = None,
        sign: bool = True,
        mutate: Callable[[dict[str, str]], None] | None = None,
    ) -> str:
        query: dict[str, str] = dict(params or {})
        query["auth_key"] = key if key is not None else self.app["key"]
        query["auth_timestamp"] = str(timestamp if timestamp is not None else int(time.time()))
        query["auth_version"] = "1.0"
        if with_body_md5 is None:
            with_body_md5 = body is not None
        if with_body_md5:
            query["body_md5"] = body_md5 if body_md5 is not None else md5_hex(body or b"")
        if sign:
            query["auth_signature"] = sign_api_request(
                secret if secret is not None else self.app["secret"], method, path, query
            )
        if mutate is not None:
            mutate(query)
        return f"{urllib.parse.quote(path)}?{urllib.parse.urlencode(query)}"

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        **sign_options: Any,
    ) -> HttpResponse:
        target = self.signed_target(method, path, params, body, **sign_options)
        return http_request(self.host, self.port, method, target, body)

    def post(self, path: str, payload: Any, **sign_options: Any) -> HttpResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", self.prefix + path, None, body, **sign_options)

    def get(
        self, path: str, params: Mapping[str, str] | None = None, **sign_options: Any
    ) -> HttpResponse:
        return self.request("GET", self.prefix + path, params, None, **sign_options)

    def publish(self, channel: str, name: str, data: str, **fields: Any) -> HttpResponse:
        payload = {"name": name, "channel": channel, "data": data, **fields}
        return self.post("/events", payload)

    def publish_ok(self, channel: str, name: str, data: str, **fields: Any) -> Any:
        response = self.publish(channel, name, data, **fields)
        assert response.status == 200, response
        return response.json()

    def channel(self, name: str, info: str | None = None) -> dict[str, Any]:
        params = {"info": info} if info else None
        response = self.get(f"/channels/{name}", params)
        assert response.status == 200, response
        result = response.json()
        assert isinstance(result, dict)
        return result

    def occupied(self, name: str) -> bool:
        occupied = self.channel(name)["occupied"]
        assert isinstance(occupied, bool)
        return occupied


def eventually(
    check: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, interval: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- raw frames


class RawWebSocket:
    """A hand-rolled WebSocket client for frames ``websockets`` refuses to send
    (invalid UTF-8 text, unmasked frames)."""

    def __init__(self, host: str, port: int, target: str, timeout: float = DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status_line + b" ", f"handshake failed: {head!r}"

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send_frame(self, opcode: int, payload: bytes, *, mask: bool = True) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        mask_bit = 0x80 if mask else 0
        if length < 126:
            header += bytes([mask_bit | length])
        elif length < 65536:
            header += bytes([mask_bit | 126]) + struct.pack("!H", length)
        else:
            header += bytes([mask_bit | 127]) + struct.pack("!Q", length)
        if mask:
            masking_key = os.urandom(4)
            payload = bytes(b ^ masking_key[i % 4] for i, b in enumerate(payload))
            header += masking_key
        self.sock.sendall(header + payload)

    def _read(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out reading a frame")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError("connection closed without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def recv_frame(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        first, second = self._read(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8, deadline))
        assert not second & 0x80, "the server masked a frame"
        return first & 0x0F, self._read(length, deadline)

    def expect_close(self, code: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                opcode, payload = self.recv_frame(max(deadline - time.monotonic(), 0.01))
            except EOFError:
                raise AssertionError(
                    f"TCP closed without a close frame (expected {code})"
                ) from None
            if opcode == 0x8:
                assert len(payload) >= 2, f"close frame without a code (expected {code})"
                (received,) = struct.unpack("!H", payload[:2])
                assert received == code, f"expected close {code}, got {received} {payload[2:]!r}"
                return
