"""One client connection's protocol state machine, sans I/O.

Theory of operation
-------------------
A :class:`Session` is created when a WebSocket opens. The caller feeds it what happens:

- ``receive(text, now)`` for every text message;
- ``activity(now)`` for control frames (ping/pong also prove the client is alive);
- ``tick(now)`` periodically, to send the server's ping and close silent connections.

Each returns a list of *effects* for the caller to carry out, in order:

- :class:`Send` text to this client; :class:`Close` the connection with a code;
- :class:`Subscribe` / :class:`Unsubscribe` a channel in the shared channel state;
- :class:`Publish` a client event to a channel's other subscribers;
- :class:`SignIn` bind a user to the connection (server-to-user events, watchlist).

Checks that need only this connection (signatures, names, sizes, rates, subscription
membership) happen here. Checks that need shared state (a presence channel's member
count) happen in the caller, which reports back with :meth:`subscribed` or
:meth:`subscribe_failed`; a channel counts as subscribed only after :meth:`subscribed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from leadcast.protocol.apps import App
from leadcast.protocol.channels import (
    SERVER_TO_USER_PREFIX,
    ChannelType,
    channel_type,
    validate_channel_name,
)
from leadcast.protocol.errors import ErrorCode, SignatureError
from leadcast.protocol.messages import (
    ClientMessage,
    InvalidMessage,
    encode,
    encode_error,
    encode_event,
    parse,
)
from leadcast.protocol.signatures import channel_auth, user_auth, verify_auth

__all__ = [
    "Close",
    "Effect",
    "Member",
    "Publish",
    "Send",
    "Session",
    "SignIn",
    "Subscribe",
    "Unsubscribe",
]

#: Sustained inbound messages per second a connection may send before it is closed.
FLOOD_RATE = 100
#: Messages a connection may send in a burst above ``FLOOD_RATE``.
FLOOD_BURST = 200

PING = encode("pusher:ping", {})
PONG = encode("pusher:pong", {})


@dataclass(frozen=True, slots=True)
class Member:
    """A presence channel member: the user behind a connection."""

    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    channel: str
    member: Member | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: str
    member: Member | None = None


@dataclass(frozen=True, slots=True)
class Publish:
    """A client event, encoded once, for the channel's other subscribers."""

    channel: str
    text: str


@dataclass(frozen=True, slots=True)
class SignIn:
    user_id: str
    user_info: Any
    watchlist: tuple[str, ...]


Effect = Send | Close | Subscribe | Unsubscribe | Publish | SignIn


class Session:
    """Protocol state of one connection. See the module docstring."""

    __slots__ = (
        "_burst",
        "_burst_at",
        "_client_count",
        "_client_window",
        "_pending",
        "app",
        "channels",
        "closed",
        "last_activity",
        "ping_sent_at",
        "socket_id",
        "user",
    )

    def __init__(self, app: App, socket_id: str, now: float) -> None:
        self.app = app
        self.socket_id = socket_id
        self.last_activity = now
        self.ping_sent_at: float | None = None
        #: Subscribed channels, with the presence member this connection is on each.
        self.channels: dict[str, Member | None] = {}
        self._pending: set[str] = set()
        self.user: SignIn | None = None
        self.closed = False
        self._client_window = now
        self._client_count = 0
        self._burst = float(FLOOD_BURST)
        self._burst_at = now

    # -- lifecycle -----------------------------------------------------------------------

    def established(self) -> list[Effect]:
        data = {"socket_id": self.socket_id, "activity_timeout": self.app.activity_timeout}
        return [Send(encode("pusher:connection_established", data))]

    def activity(self, now: float) -> None:
        self.last_activity = now
        self.ping_sent_at = None

    def tick(self, now: float) -> list[Effect]:
        """Ping a silent client; close one that did not answer in time."""
        if self.closed:
            return []
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at >= self.app.pong_timeout:
                return self._close(ErrorCode.PONG_NOT_RECEIVED, "Pong reply not received")
            return []
        if now - self.last_activity >= self.app.activity_timeout:
            self.ping_sent_at = now
            return [Send(PING)]
        return []

    def close_effects(self) -> list[Effect]:
        """What leaving requires once the connection is gone: unsubscribe everything."""
        effects: list[Effect] = [
            Unsubscribe(channel, member) for channel, member in self.channels.items()
        ]
        self.channels.clear()
        self._pending.clear()
        self.closed = True
        return effects

    def _close(self, code: int, reason: str) -> list[Effect]:
        self.closed = True
        return [Send(encode_error(reason, code)), Close(code, reason)]

    # -- inbound messages ----------------------------------------------------------------

    def receive(self, text: str, now: float) -> list[Effect]:
        """Handle one text message from the client."""
        if self.closed:
            return []
        self.activity(now)
        self._burst = min(FLOOD_BURST, self._burst + (now - self._burst_at) * FLOOD_RATE)
        self._burst_at = now
        self._burst -= 1
        if self._burst < 0:
            return self._close(ErrorCode.CLIENT_EVENT_RATE_LIMIT, "Too many messages")
        try:
            message = parse(text)
            event = message.event
            if event == "pusher:ping":
                return [Send(PONG)]
            if event == "pusher:pong":
                return []
            if event == "pusher:subscribe":
                return self._subscribe(message)
            if event == "pusher:unsubscribe":
                return self._unsubscribe(message)
            if event == "pusher:signin":
                return self._signin(message)
            if event.startswith("client-"):
                return self._client_event(message, now)
            return [Send(encode_error(f"Unsupported event {event[:100]!r}"))]
        except InvalidMessage as error:
            return [Send(encode_error(f"Invalid message: {error}"))]

    def _subscribe(self, message: ClientMessage) -> list[Effect]:
        data = message.data_object()
        channel = data.get("channel")
        problem = validate_channel_name(channel)
        if problem is not None:
            name = channel if isinstance(channel, str) else ""
            return self._subscription_error(name, problem, 400)
        assert isinstance(channel, str)
        kind = channel_type(channel)
        if channel in self._pending:
            return []
        if channel in self.channels and kind is not ChannelType.USER:
            # Already subscribed: confirm again (with the presence snapshot), change nothing.
            return [Subscribe(channel, self.channels[channel])]
        if kind is ChannelType.USER:
            if self.user is None or channel != SERVER_TO_USER_PREFIX + self.user.user_id:
                return self._subscription_error(
                    channel, "only the signed-in user may subscribe to their channel", 401
                )
            self.channels[channel] = None
            return [Send(encode("pusher_internal:subscription_succeeded", "{}", channel))]
        member: Member | None = None
        if kind.needs_auth:
            channel_data = data.get("channel_data")
            if channel_data is not None and not isinstance(channel_data, str):
                return self._subscription_error(channel, "channel_data must be a string", 400)
            expected = channel_auth(
                self.app.key, self.app.secret, self.socket_id, channel, channel_data
            )
            try:
                verify_auth(expected, data.get("auth"))
            except SignatureError as error:
                return [
                    Send(
                        encode_error(f"Invalid auth for {channel}: {error}", ErrorCode.UNAUTHORIZED)
                    ),
                    *self._subscription_error(channel, f"Invalid auth: {error}", 401, errored=True),
                ]
            if kind is ChannelType.PRESENCE:
                member_or_error = self._presence_member(channel_data)
                if isinstance(member_or_error, str):
                    return self._subscription_error(channel, member_or_error, 400)
                member = member_or_error
        self._pending.add(channel)
        return [Subscribe(channel, member)]

    def _presence_member(self, channel_data: str | None) -> Member | str:
        if channel_data is None:
            if self.user is None:
                return "presence channels need channel_data (or a signed-in connection)"
            return Member(self.user.user_id, self.user.user_info)
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
        if not user_id or len(user_id) > self.app.max_user_id_length:
            return f"user_id must be 1-{self.app.max_user_id_length} characters"
        user_info = raw.get("user_info")
        encoded = json.dumps(user_info, separators=(",", ":"), ensure_ascii=False).encode()
        if len(encoded) > self.app.max_presence_user_info_bytes:
            return f"user_info is over {self.app.max_presence_user_info_bytes} bytes"
        return Member(user_id, user_info)

    def _subscription_error(
        self, channel: str, problem: str, status: int, *, errored: bool = False
    ) -> list[Effect]:
        data = {"type": "AuthError", "error": problem, "status": status}
        effects: list[Effect] = []
        if not errored:
            effects.append(Send(encode_error(f"Subscription to {channel!r} refused: {problem}")))
        effects.append(Send(encode("pusher:subscription_error", data, channel)))
        return effects

    def subscribed(self, channel: str, member: Member | None, presence: Any = None) -> list[Effect]:
        """The shared state accepted the subscription; ``presence`` is the member snapshot."""
        self._pending.discard(channel)
        if self.closed:
            return []
        self.channels[channel] = member
        data = "{}" if presence is None else {"presence": presence}
        return [Send(encode("pusher_internal:subscription_succeeded", data, channel))]

    def subscribe_failed(self, channel: str, problem: str, status: int) -> list[Effect]:
        self._pending.discard(channel)
        return self._subscription_error(channel, problem, status)

    def _unsubscribe(self, message: ClientMessage) -> list[Effect]:
        channel = message.data_object().get("channel")
        if not isinstance(channel, str) or channel not in self.channels:
            return []
        member = self.channels.pop(channel)
        if channel.startswith(SERVER_TO_USER_PREFIX):
            return []
        return [Unsubscribe(channel, member)]

    def _signin(self, message: ClientMessage) -> list[Effect]:
        data = message.data_object()
        user_data = data.get("user_data")
        if not isinstance(user_data, str):
            return [Send(encode_error("pusher:signin needs user_data", ErrorCode.UNAUTHORIZED))]
        expected = user_auth(self.app.key, self.app.secret, self.socket_id, user_data)
        try:
            verify_auth(expected, data.get("auth"))
        except SignatureError as error:
            return [Send(encode_error(f"Invalid signin: {error}", ErrorCode.UNAUTHORIZED))]
        if self.user is not None:
            return [
                Send(encode_error("This connection is already signed in", ErrorCode.UNAUTHORIZED))
            ]
        try:
            user = json.loads(user_data)
        except ValueError:
            user = None
        if not isinstance(user, dict):
            return [Send(encode_error("user_data must be a JSON object", ErrorCode.UNAUTHORIZED))]
        user_id = user.get("id")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= self.app.max_user_id_length:
            problem = "user_data needs an id: a non-empty string"
            return [Send(encode_error(problem, ErrorCode.UNAUTHORIZED))]
        raw_watchlist = user.get("watchlist") or []
        if not isinstance(raw_watchlist, list):
            problem = "watchlist must be a list of user ids"
            return [Send(encode_error(problem, ErrorCode.UNAUTHORIZED))]
        watchlist = tuple(
            dict.fromkeys(
                str(w)
                for w in raw_watchlist
                if isinstance(w, str | int) and not isinstance(w, bool)
            )
        )
        effects: list[Effect] = [Send(encode("pusher:signin_success", {"user_data": user_data}))]
        limit = self.app.watchlist_limit
        if len(watchlist) > limit:
            watchlist = watchlist[:limit]
            effects.append(
                Send(
                    encode_error(
                        f"Watchlist over {limit} users; the first {limit} are kept",
                        ErrorCode.WATCHLIST_LIMIT,
                    )
                )
            )
        self.user = SignIn(
            user_id, user.get("user_info") if isinstance(user, dict) else None, watchlist
        )
        effects.append(self.user)
        return effects

    def _client_event(self, message: ClientMessage, now: float) -> list[Effect]:
        channel = message.channel
        event = message.event
        if not self.app.client_events:
            return [Send(encode_error("Client events are not enabled for this app"))]
        if channel is None or channel not in self.channels:
            return [Send(encode_error(f"Client event {event[:100]!r} rejected: not subscribed"))]
        if not channel_type(channel).allows_client_events:
            return [
                Send(
                    encode_error(
                        f"Client event {event[:100]!r} rejected: only private and presence "
                        "channels take client events"
                    )
                )
            ]
        if len(event) > self.app.max_event_name_length:
            return [Send(encode_error("Client event name too long"))]
        if now - self._client_window >= 1.0:
            self._client_window = now
            self._client_count = 0
        self._client_count += 1
        if self._client_count > self.app.client_event_rate:
            return [
                Send(
                    encode_error(
                        f"Client event rejected: over {self.app.client_event_rate} per second",
                        ErrorCode.CLIENT_EVENT_RATE_LIMIT,
                    )
                )
            ]
        member = self.channels[channel]
        user_id = member.user_id if member is not None else None
        return [Publish(channel, encode_event(event, channel, message.data, user_id))]
