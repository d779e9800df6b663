"""WebSocket framing (RFC 6455), sans I/O."""

from leadcast.websocket.frames import (
    FrameReader,
    Message,
    Opcode,
    WebSocketError,
    accept_key,
    encode_close,
    encode_frame,
    encode_text,
)

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
