"""Pusher error and close codes, and the protocol's exceptions.

Exception hierarchy::

    PusherError                   base of everything this package raises
    ├── ConfigError               an app definition is missing or malformed
    ├── SignatureError            an HMAC signature, key or timestamp does not verify
    └── RequestError              an HTTP API request is invalid (carries its HTTP status)

Close codes follow the ranges pusher-js acts on (``getCloseAction`` in pusher-js):
4000 switch to TLS; 4001-4099 refused, the client does not reconnect; 4100-4199 back off
one second and retry; 4200-4299 reconnect at once; 4300-4399 other errors.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ConfigError",
    "ErrorCode",
    "PusherError",
    "RequestError",
    "SignatureError",
]


class ErrorCode(IntEnum):
    """Codes sent in ``pusher:error`` and as WebSocket close codes."""

    # 4000-4099: do not reconnect unchanged.
    SSL_ONLY = 4000
    APP_NOT_FOUND = 4001
    APP_DISABLED = 4003
    OVER_CONNECTION_QUOTA = 4004
    PATH_NOT_FOUND = 4005
    INVALID_VERSION_FORMAT = 4006
    UNSUPPORTED_PROTOCOL = 4007
    NO_PROTOCOL_VERSION = 4008
    UNAUTHORIZED = 4009
    # 4100-4199: reconnect after backing off.
    OVER_CAPACITY = 4100
    # 4200-4299: reconnect immediately.
    GENERIC_RECONNECT = 4200
    PONG_NOT_RECEIVED = 4201
    CLOSED_AFTER_INACTIVITY = 4202
    # 4300-4399: other errors.
    CLIENT_EVENT_RATE_LIMIT = 4301
    WATCHLIST_LIMIT = 4302


class PusherError(Exception):
    """Base class of the protocol package's exceptions."""


class ConfigError(PusherError):
    """An app definition is missing or malformed."""


class SignatureError(PusherError):
    """A signature, key or timestamp does not verify."""


class RequestError(PusherError):
    """An HTTP API request the server must refuse with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
