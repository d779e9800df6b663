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
- :class:`ClientEventWebhook` report a client event for the app's ``client_event`` webhook
  (only when the app has one).

Checks that need only this connection (signatures, names, sizes, rates, subscription
membership) happen here. Checks that need shared state (a presence channel's member
count) happen in the caller, which reports back with :meth:`subscribed` or
:meth:`subscribe_failed`; a channel counts as subscribed only after :meth:`subscribed`.

Flood limit: every inbound message takes a token from a bucket of ``FLOOD_BURST`` that
refills at ``FLOOD_RATE`` per second; a message that finds it empty closes the connection
with 4100, which pusher-js answers by reconnecting after a second (a 43xx close would stop
it for good). A subscription that adds a channel takes no token: pusher-js resubscribes every
channel at once after each connect, so a client with many channels would otherwise be closed
on every connect. The app's ``max_channels_per_connection`` bounds those instead, refusing the
subscription beyond it. Everything else (unsubscribes, repeated or refused subscriptions)
takes a token, so churning subscriptions stays limited.
"""

from __future__ import annotations

import dataclasses
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
from leadcast.protocol.users import (
    Member,
    SignIn,
    member_from_channel_data,
    member_from_user,
    parse_user_data,
)

__all__ = [
    "ClientEventWebhook",
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
#: Subscriptions that add a channel do not count (see the module docstring).
FLOOD_RATE = 100
#: Messages a connection may send in a burst above ``FLOOD_RATE``.
FLOOD_BURST = 200

PING = encode("pusher:ping", {})
PONG = encode("pusher:pong", {})


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
class ClientEventWebhook:
    """A client event the app's ``client_event`` webhook must hear of.

    ``data`` is the JSON string the subscribers received; ``user_id`` is set on presence
    channels only.
    """

    channel: str
    event: str
    data: str
    socket_id: str
    user_id: str | None


Effect = Send | Close | Subscribe | Unsubscribe | Publish | SignIn | ClientEventWebhook


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
        try:
            message = parse(text)
        except InvalidMessage as error:
            return self._flooded() or [Send(encode_error(f"Invalid message: {error}"))]
        if message.event == "pusher:subscribe":
            # Handled first: only a subscription that adds a channel is free. A refused or
            # repeated one changes nothing, so closing instead of answering it is safe.
            held = len(self.channels) + len(self._pending)
            effects = self._handle(message, now)
            if len(self.channels) + len(self._pending) > held:
                return effects
            return self._flooded() or effects
        return self._flooded() or self._handle(message, now)

    def _flooded(self) -> list[Effect]:
        """Take one token from the flood bucket; the close once it is empty, else nothing."""
        self._burst -= 1
        if self._burst < 0:
            return self._close(ErrorCode.OVER_CAPACITY, "Too many messages")
        return []

    def _handle(self, message: ClientMessage, now: float) -> list[Effect]:
        try:
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
        limit = self.app.max_channels_per_connection
        if channel not in self.channels and len(self.channels) + len(self._pending) >= limit:
            return self._subscription_error(
                channel, f"a connection may hold at most {limit} channels", 403
            )
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
        if channel_data is not None:
            return member_from_channel_data(self.app, channel_data)
        if self.user is None:
            return "presence channels need channel_data (or a signed-in connection)"
        return member_from_user(self.app, self.user)

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
        """The shared state refused the subscription (a full presence channel)."""
        self._pending.discard(channel)
        if self.closed:
            return []
        # It took no token when it arrived, as it looked like a new channel; a refused
        # subscription is not free, so the flood limit counts it now.
        return self._flooded() or self._subscription_error(channel, problem, status)

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
        user = parse_user_data(self.app, user_data)
        if isinstance(user, str):
            return [Send(encode_error(user, ErrorCode.UNAUTHORIZED))]
        effects: list[Effect] = [Send(encode("pusher:signin_success", {"user_data": user_data}))]
        limit = self.app.watchlist_limit
        if len(user.watchlist) > limit:
            user = dataclasses.replace(user, watchlist=user.watchlist[:limit])
            effects.append(
                Send(
                    encode_error(
                        f"Watchlist over {limit} users; the first {limit} are kept",
                        ErrorCode.WATCHLIST_LIMIT,
                    )
                )
            )
        self.user = user
        effects.append(user)
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
        data = message.data
        effects: list[Effect] = [Publish(channel, encode_event(event, channel, data, user_id))]
        if self.app.wants_webhook("client_event"):
            if not isinstance(data, str):
                data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            effects.append(ClientEventWebhook(channel, event, data, self.socket_id, user_id))
        return effects
