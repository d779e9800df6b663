"""HTTP/1.1 as the server speaks it: request limits, responses, the WebSocket handshake check.

Constants and pure functions; :mod:`leadcast.realtime.connection` does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import httptools

__all__ = [
    "HEAD_SLICE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_URL_BYTES",
    "Reject",
    "encode_response",
    "handshake_problem",
]

#: Request target (path and query) limit: 414 beyond it.
MAX_URL_BYTES = 16_384
#: Header limits: 431 beyond 100 headers or 16 KiB of names and values.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16_384
#: ``httptools`` buffers a header line until it ends, so an incomplete head is fed in slices
#: this long and counted; past ``MAX_HEAD_BYTES`` (separators included) it is refused (431).
HEAD_SLICE = 4096
MAX_HEAD_BYTES = MAX_URL_BYTES + MAX_HEADER_BYTES + 8 * 1024

_STATUS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
#: Headers some statuses must carry (RFC 9110 §15.5.22, RFC 6455 §4.4).
_STATUS_HEADERS = {
    426: "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
    503: "Retry-After: 1\r\n",
}


class Reject(httptools.HttpParserError):
    """A request refused while it is parsed, with the status and message to answer.

    Raised from parser callbacks; ``httptools`` re-raises it as the context of its own
    callback error.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encode_response(status: int, payload: dict[str, Any], connection: str) -> bytes:
    """A complete JSON response.

    Args:
        connection: the ``Connection`` (and ``Keep-Alive``) header lines, CRLF-terminated.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_STATUS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{_STATUS_HEADERS.get(status, '')}{connection}\r\n"
    )
    return head.encode() + body


def handshake_problem(
    method: bytes, headers: Mapping[bytes, bytes], key: str
) -> tuple[int, str] | None:
    """What is wrong with a WebSocket opening handshake (RFC 6455 §4.2.1), or ``None``.

    Args:
        headers: lower-cased header names to values.
        key: the ``Sec-WebSocket-Key`` value, stripped.

    Returns:
        The status and message to answer with.
    """
    if method != b"GET":
        return 405, "a WebSocket handshake is a GET request"
    if b"websocket" not in headers.get(b"upgrade", b"").lower():
        return 426, "expected Upgrade: websocket"
    version = headers.get(b"sec-websocket-version")
    if version != b"13":
        got = "none" if version is None else repr(version.decode("latin-1")[:20])
        return 426, f"Sec-WebSocket-Version must be 13, got {got}"
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        return 400, "Sec-WebSocket-Key must be 16 bytes in base64"
    return None
