"""RFC 6455 framing, sans I/O: bytes in, messages out; messages in, bytes out.

Theory of operation
-------------------
``FrameReader.feed(data)`` appends bytes to a buffer and returns every complete *message*
it can decode. Data frames may be fragmented (a first frame with FIN clear, then
continuation frames); control frames (close, ping, pong) may arrive between fragments and
are returned at once. A server only accepts masked frames from clients (RFC 6455 §5.1).

Violations raise :class:`WebSocketError` carrying the close code the server must send:
1002 protocol error, 1007 invalid UTF-8, 1009 message too big. Binary messages are decoded
and returned; whether to accept them is the caller's policy.

Server frames are never masked, so :func:`encode_frame` is a header plus the payload; a
broadcast encodes its frame once and writes the same bytes to every recipient.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "FrameReader",
    "Message",
    "Opcode",
    "WebSocketError",
    "accept_key",
    "encode_close",
    "encode_frame",
    "encode_text",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_DATA = frozenset({Opcode.TEXT, Opcode.BINARY})
_CONTROL = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
_KNOWN = {int(op): op for op in Opcode}


class WebSocketError(Exception):
    """The peer broke the framing rules; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A complete message: text, binary, ping, pong or close.

    ``payload`` is the raw bytes; ``text`` is set for text messages. For a close message
    ``code`` holds the status code (1005 when the peer sent none).
    """

    opcode: Opcode
    payload: bytes
    text: str | None = None
    code: int = 1005


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: Opcode, payload: bytes) -> bytes:
    """One unmasked, final frame (server to client)."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = bytes((first, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def encode_text(text: str) -> bytes:
    return encode_frame(Opcode.TEXT, text.encode("utf-8"))


def encode_close(code: int, reason: str = "") -> bytes:
    # At most 123 bytes, cut on a character boundary so the reason stays valid UTF-8.
    raw = reason.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")
    return encode_frame(Opcode.CLOSE, struct.pack("!H", code) + raw)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    length = len(payload)
    if not length:
        return payload
    repeated = (mask * (length // 4 + 1))[:length]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(length, "little")


def _valid_close_code(code: int) -> bool:
    # RFC 6455 §7.4: 1000-1003, 1007-1011 and 3000-4999 may appear on the wire.
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1011 or 3000 <= code <= 4999


class FrameReader:
    """Decodes client frames into messages.

    Args:
        max_message_bytes: largest payload of one message (all its fragments together).
    """

    __slots__ = ("_buffer", "_fragment_opcode", "_fragment_size", "_fragments", "max_message_bytes")

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = Opcode.TEXT
        self._fragment_size = 0

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return the messages now complete.

        Raises:
            WebSocketError: the frames break RFC 6455 or a message is too big.
        """
        buffer = self._buffer + data if self._buffer else data
        messages: list[Message] = []
        offset = 0
        end = len(buffer)
        while end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            if first & 0x70:
                raise WebSocketError(1002, "reserved bits set (no extension was negotiated)")
            opcode = _KNOWN.get(first & 0x0F)
            if opcode is None:
                raise WebSocketError(1002, "unknown opcode")
            if not second & 0x80:
                raise WebSocketError(1002, "client frames must be masked")
            fin = bool(first & 0x80)
            length = second & 0x7F
            header = 2
            if length == 126:
                if end - offset < 4:
                    break
                length = struct.unpack_from("!H", buffer, offset + 2)[0]
                header = 4
            elif length == 127:
                if end - offset < 10:
                    break
                length = struct.unpack_from("!Q", buffer, offset + 2)[0]
                header = 10
            if opcode in _CONTROL:
                if not fin or length > 125:
                    raise WebSocketError(1002, "control frames must be final and at most 125 bytes")
            elif length + self._fragment_size > self.max_message_bytes:
                raise WebSocketError(1009, f"message over {self.max_message_bytes} bytes")
            frame_end = offset + header + 4 + length
            if frame_end > end:
                break
            mask = buffer[offset + header : offset + header + 4]
            payload = _unmask(buffer[offset + header + 4 : frame_end], mask)
            offset = frame_end
            message = self._frame(opcode, fin, payload)
            if message is not None:
                messages.append(message)
                if opcode is Opcode.CLOSE:
                    offset = end
                    break
        self._buffer = buffer[offset:] if offset < end else b""
        return messages

    def _frame(self, opcode: Opcode, fin: bool, payload: bytes) -> Message | None:
        if opcode in _CONTROL:
            if opcode is Opcode.CLOSE:
                return self._close(payload)
            return Message(opcode, payload)
        if opcode is Opcode.CONTINUATION:
            if self._fragments is None:
                raise WebSocketError(1002, "continuation frame without a message to continue")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if not fin:
                return None
            payload = b"".join(self._fragments)
            opcode = self._fragment_opcode
            self._fragments = None
            self._fragment_size = 0
        elif self._fragments is not None:
            raise WebSocketError(1002, "new message started before the previous one ended")
        elif not fin:
            self._fragments = [payload]
            self._fragment_opcode = opcode
            self._fragment_size = len(payload)
            return None
        if opcode is Opcode.TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise WebSocketError(1007, "text message is not valid UTF-8") from None
            return Message(opcode, payload, text)
        return Message(opcode, payload)

    @staticmethod
    def _close(payload: bytes) -> Message:
        if not payload:
            return Message(Opcode.CLOSE, payload)
        if len(payload) == 1:
            raise WebSocketError(1002, "close frame with a one-byte payload")
        code = struct.unpack_from("!H", payload)[0]
        if not _valid_close_code(code):
            raise WebSocketError(1002, "invalid close code")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise WebSocketError(1007, "close reason is not valid UTF-8") from None
        return Message(Opcode.CLOSE, payload, code=code)
