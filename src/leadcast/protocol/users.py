"""Who is behind a connection: presence members and signed-in users, parsed and checked.

- A presence member comes from a subscription's ``channel_data``
  (``{"user_id": ..., "user_info": ...}``) or, without it, from the signed-in user.
- A signed-in user comes from a ``pusher:signin``'s ``user_data``
  (``{"id": ..., "user_info": ..., "watchlist": [...]}``).

The two ids follow different rules. A signed-in user's id names their
``#server-to-user-{id}`` channel, so it must be a valid channel name
(:func:`~leadcast.protocol.channels.validate_user_id`). A presence ``user_id`` only labels a
member, so any string or number of at most ``max_user_id_length`` characters will do, as on
Pusher. ``user_info`` is used only by presence, so its size limit applies when a member is
made, whichever of the two it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from leadcast.protocol.apps import App
from leadcast.protocol.channels import validate_user_id

__all__ = ["Member", "SignIn", "member_from_channel_data", "member_from_user", "parse_user_data"]


@dataclass(frozen=True, slots=True)
class Member:
    """A presence channel member: the user behind a connection."""

    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A signed-in user; also the effect that binds the user to the connection."""

    user_id: str
    user_info: Any
    watchlist: tuple[str, ...]


def _user_info_problem(app: App, user_info: Any) -> str | None:
    encoded = json.dumps(user_info, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) > app.max_presence_user_info_bytes:
        return f"user_info is over {app.max_presence_user_info_bytes} bytes"
    return None


def member_from_channel_data(app: App, channel_data: str) -> Member | str:
    """The member a presence subscription's ``channel_data`` names, or why it is invalid."""
    try:
        raw = json.loads(channel_data)
    except ValueError:
        return "channel_data is not valid JSON"
    if not isinstance(raw, dict):
        return "channel_data must be a JSON object"
    user_id = raw.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        return "channel_data needs a user_id (string or number)"
    user_id = str(user_id)
    if not user_id or len(user_id) > app.max_user_id_length:
        return f"user_id must be 1-{app.max_user_id_length} characters"
    user_info = raw.get("user_info")
    problem = _user_info_problem(app, user_info)
    if problem is not None:
        return problem
    return Member(user_id, user_info)


def member_from_user(app: App, user: SignIn) -> Member | str:
    """The signed-in user as a presence member, or why their ``user_info`` cannot be one."""
    problem = _user_info_problem(app, user.user_info)
    if problem is not None:
        return f"the signed-in user's {problem}"
    return Member(user.user_id, user.user_info)


def parse_user_data(app: App, user_data: str) -> SignIn | str:
    """The user a sign-in's (verified) ``user_data`` names, or why it is invalid.

    The watchlist keeps string and number ids, once each, in order; it is not cut to the
    app's ``watchlist_limit`` here. ``user_info`` is not limited: only presence uses it.
    """
    try:
        user = json.loads(user_data)
    except ValueError:
        user = None
    if not isinstance(user, dict):
        return "user_data must be a JSON object"
    user_id = user.get("id")
    # The id names the user's #server-to-user-{id} channel (which pusher-js subscribes to
    # right after sign-in, and the HTTP API publishes to), so it must be a valid name.
    problem = validate_user_id(user_id, max_length=app.max_user_id_length)
    if problem is not None:
        return f"Invalid user_data: {problem}"
    assert isinstance(user_id, str)
    raw_watchlist = user.get("watchlist") or []
    if not isinstance(raw_watchlist, list):
        return "watchlist must be a list of user ids"
    watchlist = tuple(
        dict.fromkeys(
            str(w) for w in raw_watchlist if isinstance(w, str | int) and not isinstance(w, bool)
        )
    )
    return SignIn(user_id, user.get("user_info"), watchlist)
