"""Channel names and types.

Prefixes match exactly at the start of a name: ``privateer`` and ``foo-private-x`` are
public channels. Names are 1-200 characters of ``A-Za-z0-9_-=@,.;``; ``#`` is reserved for
the server's own ``#server-to-user-{id}`` channels.

A signed-in user's id names that user's channel, so it follows the same rule: 1-184
characters (200 less the prefix) of the channel charset. The official SDKs check user ids the
same way (``validate_user_id`` in the Python SDK's ``pusher/util.py``).
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = [
    "MAX_CHANNEL_NAME_LENGTH",
    "MAX_USER_ID_LENGTH",
    "SERVER_TO_USER_PREFIX",
    "ChannelType",
    "channel_type",
    "is_cache_channel",
    "user_channel_id",
    "validate_channel_name",
    "validate_user_id",
]

MAX_CHANNEL_NAME_LENGTH = 200
SERVER_TO_USER_PREFIX = "#server-to-user-"
#: The longest user id whose ``#server-to-user-{id}`` channel name is still valid.
MAX_USER_ID_LENGTH = MAX_CHANNEL_NAME_LENGTH - len(SERVER_TO_USER_PREFIX)

_NAME = re.compile(r"[-a-zA-Z0-9_=@,.;]+")
_CHARSET = "A-Z, a-z, 0-9, '_', '-', '=', '@', ',', '.', ';'"


class ChannelType(Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    USER = "server-to-user"

    @property
    def needs_auth(self) -> bool:
        return self in (ChannelType.PRIVATE, ChannelType.ENCRYPTED, ChannelType.PRESENCE)

    @property
    def allows_client_events(self) -> bool:
        # Client events are for private and presence channels; encrypted channels do not
        # support them (Pusher docs, encrypted channels).
        return self in (ChannelType.PRIVATE, ChannelType.PRESENCE)


_CACHE_PREFIXES = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")


def channel_type(name: str) -> ChannelType:
    """The type of a channel, by exact prefix."""
    if name.startswith("private-encrypted-"):
        return ChannelType.ENCRYPTED
    if name.startswith("private-"):
        return ChannelType.PRIVATE
    if name.startswith("presence-"):
        return ChannelType.PRESENCE
    if name.startswith(SERVER_TO_USER_PREFIX):
        return ChannelType.USER
    return ChannelType.PUBLIC


def is_cache_channel(name: str) -> bool:
    return name.startswith(_CACHE_PREFIXES)


def user_channel_id(name: str) -> str | None:
    """The user id of a ``#server-to-user-{id}`` channel, else ``None``."""
    if name.startswith(SERVER_TO_USER_PREFIX):
        user_id = name[len(SERVER_TO_USER_PREFIX) :]
        return user_id or None
    return None


def validate_channel_name(name: object, *, max_length: int = MAX_CHANNEL_NAME_LENGTH) -> str | None:
    """Return why ``name`` is not a valid channel name, or ``None`` when it is."""
    if not isinstance(name, str) or not name:
        return "channel name must be a non-empty string"
    if len(name) > max_length:
        return f"channel name longer than {max_length} characters"
    user_id = user_channel_id(name)
    if not _NAME.fullmatch(name if user_id is None else user_id):
        return f"channel name may only contain {_CHARSET}"
    return None


def validate_user_id(user_id: object, *, max_length: int = MAX_USER_ID_LENGTH) -> str | None:
    """Return why ``user_id`` cannot be a signed-in user's id, or ``None`` when it can.

    Args:
        user_id: the ``id`` of a sign-in's ``user_data``.
        max_length: the app's limit; never more than :data:`MAX_USER_ID_LENGTH`, so the
            user's ``#server-to-user-{id}`` channel always has a valid name.
    """
    if not isinstance(user_id, str) or not user_id:
        return "user id must be a non-empty string"
    limit = min(max_length, MAX_USER_ID_LENGTH)
    if len(user_id) > limit:
        return f"user id longer than {limit} characters"
    if not _NAME.fullmatch(user_id):
        return f"user id may only contain {_CHARSET}"
    return None
