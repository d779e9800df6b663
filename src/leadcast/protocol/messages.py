"""Wire messages: parse what clients send, encode what the server sends.

Every message is a JSON object ``{"event", "channel"?, "data"?}``. Server-to-client
``data`` is a JSON-encoded *string* ("double encoding" in the Pusher protocol); clients may
send ``data`` as an object or as a string, and both are accepted.

Encoders build the JSON text directly from pre-escaped parts; a broadcast is encoded once
and the same text goes to every recipient.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ClientMessage",
    "InvalidMessage",
    "encode",
    "encode_error",
    "encode_event",
    "parse",
]


class InvalidMessage(ValueError):
    """The text is not a protocol message."""


@dataclass(frozen=True, slots=True)
class ClientMessage:
    event: str
    channel: str | None
    data: Any

    def data_object(self) -> dict[str, Any]:
        """``data`` as an object, decoding it when it was sent as a JSON string.

        Raises:
            InvalidMessage: ``data`` is neither an object nor a string holding one.
        """
        data = self.data
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise InvalidMessage(f"{self.event}: data is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidMessage(f"{self.event}: data must be an object")
        return data


def parse(text: str) -> ClientMessage:
    """Parse one client message.

    Raises:
        InvalidMessage: the text is not JSON, not an object, or has no string ``event``.
    """
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidMessage("message is not valid JSON") from None
    if not isinstance(raw, dict):
        raise InvalidMessage("message must be a JSON object")
    event = raw.get("event")
    if not isinstance(event, str) or not event:
        raise InvalidMessage("message needs a string 'event'")
    channel = raw.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise InvalidMessage("'channel' must be a string")
    return ClientMessage(event, channel, raw.get("data"))


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(event: str, data: Any = None, channel: str | None = None) -> str:
    """A server message whose ``data`` is encoded to a JSON string (double encoding)."""
    parts = ['{"event":', _dumps(event)]
    if channel is not None:
        parts += [',"channel":', _dumps(channel)]
    if data is not None:
        parts += [',"data":', _dumps(data if isinstance(data, str) else _dumps(data))]
    parts.append("}")
    return "".join(parts)


def encode_event(event: str, channel: str, data: Any, user_id: str | None = None) -> str:
    """A channel event. ``data`` goes out as a JSON string: a string as is, anything else
    (a client event's object) JSON-encoded first."""
    if not isinstance(data, str):
        data = _dumps(data)
    text = '{"event":' + _dumps(event) + ',"channel":' + _dumps(channel) + ',"data":' + _dumps(data)
    if user_id is not None:
        text += ',"user_id":' + _dumps(user_id)
    return text + "}"


def encode_error(message: str, code: int | None = None) -> str:
    return encode("pusher:error", {"code": code, "message": message})
