"""What a Pusher client sends, for tests that build its messages by hand."""

from __future__ import annotations

import json
from typing import Any

from leadcast.protocol import Session
from leadcast.protocol.signatures import channel_auth

__all__ = ["presence_data", "subscribe_text"]


def presence_data(user_id: Any, user_info: Any = None) -> str:
    """A presence subscription's ``channel_data``: ``{"user_id", "user_info"}`` as JSON.

    ``user_info`` is left out when it is ``None``; ``user_id`` is taken as given (tests also
    send ids that are not strings).
    """
    data: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        data["user_info"] = user_info
    return json.dumps(data)


def subscribe_text(session: Session, channel: str, user_id: str | None = None) -> str:
    """The ``pusher:subscribe`` the client of ``session`` sends for ``channel``.

    Args:
        session: the connection's session (its app signs, its socket id is signed for).
        channel: the channel; a ``private-`` or ``presence-`` one gets a valid ``auth``.
        user_id: given, the message carries :func:`presence_data` of it as ``channel_data``
            (and the ``auth`` covers it).

    Returns:
        The message's JSON text.
    """
    app = session.app
    data: dict[str, Any] = {"channel": channel}
    channel_data = None
    if user_id is not None:
        channel_data = presence_data(user_id)
        data["channel_data"] = channel_data
    if channel.startswith(("private-", "presence-")):
        data["auth"] = channel_auth(app.key, app.secret, session.socket_id, channel, channel_data)
    return json.dumps({"event": "pusher:subscribe", "data": data})
