"""A bare WebSocket broadcast server: the leadcast stack without the Pusher protocol.

It runs on the same stack as ``leadcast realtime`` (an ``asyncio.Protocol`` on uvloop with a
hand-written handshake and frame codec) and does the least a fan-out server can do, so that the
benchmark can tell the cost of the Pusher protocol apart from the cost of the stack:

- A client whose first text message is ``publisher`` becomes a publisher and gets ``ok``. Every
  later text message from it is encoded once as a server frame and written to every receiver.
  A message ``@<channel> <text>`` goes only to the receivers of ``<channel>``, as ``<text>``.
- Every other client is a receiver. If its first message is ``sub <channel>`` it also joins that
  channel and gets ``ok`` (the benchmark waits for it, as for ``subscription_succeeded``).

There is no validation beyond what framing needs: no UTF-8 check, no limits, no back-pressure.
Start it as the real server is started; it prints ``listening on http://HOST:PORT`` when ready::

    python bench/bare_server.py --host 127.0.0.1 --port 6001
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import signal
import struct
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16384
MAX_MESSAGE_BYTES = 1 << 20
OK_FRAME = b"\x81\x02ok"


def encode_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """Return an unmasked server frame (FIN set) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask``, as one big-integer operation."""
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class Hub:
    """Every receiver, and the receivers of each channel."""

    def __init__(self) -> None:
        self.receivers: set[Connection] = set()
        self.channels: dict[bytes, set[Connection]] = {}

    def publish(self, message: bytes) -> None:
        targets: set[Connection] | None = self.receivers
        if message.startswith(b"@"):
            channel, _, message = message[1:].partition(b" ")
            targets = self.channels.get(channel)
        if not targets:
            return
        frame = encode_frame(message)
        for connection in list(targets):
            connection.transport.write(frame)

    def join(self, connection: Connection, channel: bytes) -> None:
        self.channels.setdefault(channel, set()).add(connection)

    def remove(self, connection: Connection) -> None:
        self.receivers.discard(connection)
        if connection.channel is not None:
            members = self.channels.get(connection.channel)
            if members is not None:
                members.discard(connection)
                if not members:
                    del self.channels[connection.channel]


class Connection(asyncio.Protocol):
    """One client: the HTTP upgrade, then frames."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.buffer = bytearray()
        self.upgraded = False
        self.first_message = True
        self.publisher = False
        self.channel: bytes | None = None
        self.fragments: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.remove(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and not self._handshake():
            return
        self._frames()

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                self._reject(b"431 Request Header Fields Too Large")
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        key = ""
        upgrade = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "sec-websocket-key":
                key = value.strip()
            elif name == "upgrade":
                upgrade = value.strip().lower() == "websocket"
        if not head.startswith("GET ") or not upgrade or not key:
            self._reject(b"400 Bad Request")
            return False
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.upgraded = True
        self.hub.receivers.add(self)
        return True

    def _reject(self, status: bytes) -> None:
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        self.transport.close()

    def _frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,) = struct.unpack_from("!H", buf, 2)
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buf, 2)
                offset = 10
            if not b1 & 0x80 or length > MAX_MESSAGE_BYTES:
                self._close(1002 if not b1 & 0x80 else 1009)
                return
            if len(buf) < offset + 4 + length:
                return
            mask = bytes(buf[offset : offset + 4])
            payload = unmask(bytes(buf[offset + 4 : offset + 4 + length]), mask)
            del buf[: offset + 4 + length]
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
            if self.transport.is_closing():
                return

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and fin and self.fragments is None:
            self._message(payload)
        elif opcode in (0x0, 0x1):
            parts = self.fragments if self.fragments is not None else []
            parts.append(payload)
            self.fragments = parts
            if fin:
                self.fragments = None
                self._message(b"".join(parts))
        elif opcode == 0x8:
            self._close(1000)
        elif opcode == 0x9:
            self.transport.write(encode_frame(payload, 0xA))
        elif opcode == 0x2:
            self._close(1003)

    def _message(self, message: bytes) -> None:
        if self.publisher:
            self.hub.publish(message)
            return
        if not self.first_message:
            return
        self.first_message = False
        if message == b"publisher":
            self.publisher = True
            self.hub.receivers.discard(self)
            self.transport.write(OK_FRAME)
        elif message.startswith(b"sub "):
            self.channel = message[4:]
            self.hub.join(self, self.channel)
            self.transport.write(OK_FRAME)

    def _close(self, code: int) -> None:
        self.transport.write(encode_frame(struct.pack("!H", code), 0x8))
        self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    hub = Hub()
    server = await loop.create_server(lambda: Connection(hub), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"bare server: listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6001)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a project dependency
        asyncio.run(serve(args.host, args.port))
    else:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
