"""HMAC-SHA256 signatures of the Pusher protocol.

- Channel authorisation: ``<key>:<hex HMAC(secret, "<socket_id>:<channel>[:<channel_data>]")>``.
- User sign-in: ``<key>:<hex HMAC(secret, "<socket_id>::user::<user_data>")>``.
- HTTP API requests: ``auth_signature`` = hex HMAC(secret, ``METHOD\\nPATH\\nQUERY``), where
  QUERY is every parameter but ``auth_signature``, keys lower-cased and sorted, joined as
  ``k=v&...`` without URL escaping; ``auth_timestamp`` must be within ``window`` seconds.
- Webhooks: hex HMAC(secret, raw body).

Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from leadcast.protocol.errors import SignatureError

__all__ = [
    "AUTH_TIMESTAMP_WINDOW",
    "EMPTY_BODY_MD5",
    "body_md5",
    "channel_auth",
    "request_signature",
    "sign",
    "string_to_sign",
    "user_auth",
    "verify_auth",
    "verify_request",
]

AUTH_TIMESTAMP_WINDOW = 600
EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def channel_auth(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None
) -> str:
    message = (
        f"{socket_id}:{channel}"
        if channel_data is None
        else f"{socket_id}:{channel}:{channel_data}"
    )
    return f"{key}:{sign(secret, message)}"


def user_auth(key: str, secret: str, socket_id: str, user_data: str) -> str:
    return f"{key}:{sign(secret, f'{socket_id}::user::{user_data}')}"


def verify_auth(expected: str, given: object) -> None:
    """Check a client's ``auth`` string against the one the server computes.

    The whole ``key:signature`` string is compared, so a signature made with another app's
    key fails even when the hex part were equal.

    Raises:
        SignatureError: ``given`` is missing or does not match.
    """
    if not isinstance(given, str) or not given:
        raise SignatureError("auth is required")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("invalid signature")


def body_md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "auth_signature")
    return f"{method.upper()}\n{path}\n{query}"


def request_signature(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    return sign(secret, string_to_sign(method, path, params))


def verify_request(
    *,
    key: str,
    secret: str,
    method: str,
    path: str,
    params: Mapping[str, str],
    body: bytes,
    now: float,
    window: int = AUTH_TIMESTAMP_WINDOW,
) -> None:
    """Verify a signed HTTP API request.

    ``params`` holds the query parameters with lower-cased keys, as received (not
    unescaped twice). ``body_md5`` is required when there is a body; on a request without
    one it may be present only as the MD5 of the empty body (the Python SDK sends it).

    Raises:
        SignatureError: naming the first check that failed.
    """
    for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
        if not params.get(name):
            raise SignatureError(f"missing {name}")
    if not hmac.compare_digest(params["auth_key"].encode(), key.encode()):
        raise SignatureError("unknown auth_key")
    if params["auth_version"] != "1.0":
        raise SignatureError("auth_version must be 1.0")
    try:
        timestamp = int(params["auth_timestamp"])
    except ValueError:
        raise SignatureError("auth_timestamp must be an integer") from None
    if abs(now - timestamp) > window:
        raise SignatureError(f"auth_timestamp is more than {window} seconds from server time")
    md5 = params.get("body_md5")
    if body:
        if md5 is None:
            raise SignatureError("body_md5 is required with a body")
        if not hmac.compare_digest(md5.encode(), body_md5(body).encode()):
            raise SignatureError("body_md5 does not match the body")
    elif md5 is not None and md5 != EMPTY_BODY_MD5:
        raise SignatureError("body_md5 does not match the empty body")
    expected = request_signature(secret, method, path, params)
    if not hmac.compare_digest(expected.encode(), params["auth_signature"].encode()):
        raise SignatureError("invalid auth_signature")
