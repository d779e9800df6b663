"""The real-time node: shared channel state, and the effects of every session carried out.

Theory of operation
-------------------
Each app has its own :class:`AppState` (channels, presence members, cache, signed-in users,
watchers), so nothing crosses from one app to another. A connection's :class:`Session`
decides what a client message means; the node applies the resulting effects to the app's
state and hands encoded frames to the :class:`Writer`.

Every broadcast is encoded once (one text, one frame) and given to the writer with the
recipients as a snapshot tuple; no JSON work is done per recipient.

Presence: a channel's members are counted per user, so ``member_added`` goes out on a
user's first connection and ``member_removed`` when their last one leaves.

Webhooks: for an app with webhooks the node reports the same transitions to its
:class:`WebhookSink` (channel occupied on the first subscriber, vacated on the last, member
added and removed per user as above, cache misses, and the client events sessions report).
The sink only queues; holding, batching and delivery happen behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.channels import (
    ChannelType,
    channel_type,
    is_cache_channel,
    user_channel_id,
)
from leadcast.protocol.errors import ErrorCode
from leadcast.protocol.messages import encode, encode_event
from leadcast.protocol.session import (
    ClientEventWebhook,
    Close,
    Effect,
    Publish,
    Send,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from leadcast.realtime.ports import Peer, WebhookSink, Writer
from leadcast.websocket.frames import encode_text

__all__ = ["AppState", "Channel", "Node"]


@dataclass(slots=True)
class Channel:
    subscribers: dict[Peer, None] = field(default_factory=dict)
    #: Presence channels: user id → [user_info, number of connections].
    members: dict[str, list[Any]] | None = None

    def presence(self) -> dict[str, Any]:
        members = self.members or {}
        return {
            "ids": list(members),
            "hash": {user_id: entry[0] for user_id, entry in members.items()},
            "count": len(members),
        }


@dataclass(slots=True)
class AppState:
    app: App
    channels: dict[str, Channel] = field(default_factory=dict)
    #: Cache channels: name → (event text, expiry time). Kept while the channel is empty.
    cache: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    users: dict[str, dict[Peer, None]] = field(default_factory=dict)
    watchers: dict[str, dict[Peer, None]] = field(default_factory=dict)
    sockets: dict[str, Peer] = field(default_factory=dict)
    #: Where this app's webhook events go; ``None`` when the app has no webhooks.
    hooks: WebhookSink | None = None

    @property
    def connections(self) -> int:
        return len(self.sockets)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    occupied: bool
    subscription_count: int
    user_count: int | None
    cache: tuple[str, str, float] | None


class Node:
    """Channel state for every app, driven by sessions and the HTTP API."""

    def __init__(
        self, apps: AppRegistry, writer: Writer, webhooks: WebhookSink | None = None
    ) -> None:
        self.apps = apps
        self.writer = writer
        self.states = {
            app.id: AppState(app, hooks=webhooks if app.webhooks else None) for app in apps
        }

    # -- connections -----------------------------------------------------------------------

    def state(self, app: App) -> AppState:
        return self.states[app.id]

    @property
    def connections(self) -> int:
        return sum(state.connections for state in self.states.values())

    def over_quota(self, app: App) -> bool:
        return 0 < app.max_connections <= self.states[app.id].connections

    def connect(self, peer: Peer, now: float) -> None:
        """Register a new connection and greet it."""
        session = peer.session
        self.states[session.app.id].sockets[session.socket_id] = peer
        self.perform(peer, session.established(), now)

    def disconnect(self, peer: Peer) -> None:
        """Forget a connection that is gone: its channels, sign-in and watchlist."""
        session = peer.session
        state = self.states[session.app.id]
        if state.sockets.get(session.socket_id) is not peer:
            return
        del state.sockets[session.socket_id]
        for effect in session.close_effects():
            if isinstance(effect, Unsubscribe):
                self._unsubscribe(state, peer, effect)
        user = session.user
        if user is not None:
            self._sign_out(state, peer, user)

    def receive(self, peer: Peer, text: str, now: float) -> None:
        self.perform(peer, peer.session.receive(text, now), now)

    def tick(self, now: float) -> None:
        """Keep-alive pass over every connection."""
        for state in self.states.values():
            for peer in list(state.sockets.values()):
                session = peer.session
                if session.ping_sent_at is None and (
                    now - session.last_activity < session.app.activity_timeout
                ):
                    continue
                self.perform(peer, session.tick(now), now)

    def perform(self, peer: Peer, effects: Iterable[Effect], now: float) -> None:
        state = self.states[peer.session.app.id]
        for effect in effects:
            if isinstance(effect, Send):
                self.writer.send(peer, encode_text(effect.text))
            elif isinstance(effect, Publish):
                channel = state.channels.get(effect.channel)
                if channel is not None:
                    frame = encode_text(effect.text)
                    self.writer.broadcast(frame, tuple(channel.subscribers), peer)
            elif isinstance(effect, Subscribe):
                self._subscribe(state, peer, effect, now)
            elif isinstance(effect, Unsubscribe):
                self._unsubscribe(state, peer, effect)
            elif isinstance(effect, SignIn):
                self._sign_in(state, peer, effect)
            elif isinstance(effect, Close):
                self.writer.close(peer, effect.code, effect.reason)
            elif isinstance(effect, ClientEventWebhook) and state.hooks is not None:
                state.hooks.client_event(
                    state.app,
                    effect.channel,
                    effect.event,
                    effect.data,
                    effect.socket_id,
                    effect.user_id,
                )

    # -- channels ----------------------------------------------------------------------------

    def _subscribe(self, state: AppState, peer: Peer, effect: Subscribe, now: float) -> None:
        name, member = effect.channel, effect.member
        channel = state.channels.get(name)
        if channel is None:
            channel = Channel()
            if channel_type(name) is ChannelType.PRESENCE:
                channel.members = {}
            state.channels[name] = channel
        elif peer in channel.subscribers:
            presence = channel.presence() if channel.members is not None else None
            self.perform(peer, peer.session.subscribed(name, member, presence), now)
            return
        joined: str | None = None
        if member is not None and channel.members is not None:
            entry = channel.members.get(member.user_id)
            if entry is None:
                if len(channel.members) >= state.app.max_presence_members:
                    if not channel.subscribers:
                        del state.channels[name]
                    problem = f"presence channel is full ({state.app.max_presence_members} members)"
                    self.perform(peer, peer.session.subscribe_failed(name, problem, 403), now)
                    return
                channel.members[member.user_id] = [member.user_info, 1]
                added = encode(
                    "pusher_internal:member_added",
                    {"user_id": member.user_id, "user_info": member.user_info},
                    name,
                )
                self.writer.broadcast(encode_text(added), tuple(channel.subscribers), None)
                joined = member.user_id
            else:
                entry[0] = member.user_info
                entry[1] += 1
        channel.subscribers[peer] = None
        hooks = state.hooks
        if hooks is not None:
            if len(channel.subscribers) == 1:
                hooks.channel_occupied(state.app, name)
            if joined is not None:
                hooks.member_added(state.app, name, joined)
        presence = channel.presence() if channel.members is not None else None
        self.perform(peer, peer.session.subscribed(name, member, presence), now)
        if is_cache_channel(name):
            cached = self._cached(state, name, now)
            if cached is None:
                self.writer.send(peer, encode_text(encode("pusher:cache_miss", None, name)))
                if hooks is not None:
                    hooks.cache_miss(state.app, name)
            else:
                self.writer.send(peer, encode_text(cached[0]))

    @staticmethod
    def _cached(state: AppState, name: str, now: float) -> tuple[str, str, float] | None:
        cached = state.cache.get(name)
        if cached is not None and cached[2] <= now:
            del state.cache[name]
            return None
        return cached

    def _unsubscribe(self, state: AppState, peer: Peer, effect: Unsubscribe) -> None:
        name, member = effect.channel, effect.member
        channel = state.channels.get(name)
        if channel is None or channel.subscribers.pop(peer, 0) == 0:
            return
        if member is not None and channel.members is not None:
            entry = channel.members.get(member.user_id)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del channel.members[member.user_id]
                    removed = encode(
                        "pusher_internal:member_removed", {"user_id": member.user_id}, name
                    )
                    self.writer.broadcast(encode_text(removed), tuple(channel.subscribers), None)
                    if state.hooks is not None:
                        state.hooks.member_removed(state.app, name, member.user_id)
        if not channel.subscribers:
            del state.channels[name]
            if state.hooks is not None:
                state.hooks.channel_vacated(state.app, name)

    # -- users -------------------------------------------------------------------------------

    def _sign_in(self, state: AppState, peer: Peer, user: SignIn) -> None:
        connections = state.users.setdefault(user.user_id, {})
        first = not connections
        connections[peer] = None
        if first:
            self._watchlist_event(state, user.user_id, "online")
        for watched in user.watchlist:
            state.watchers.setdefault(watched, {})[peer] = None
        online = [watched for watched in user.watchlist if watched in state.users]
        if online:
            events = {"events": [{"name": "online", "user_ids": online}]}
            self.writer.send(peer, encode_text(encode("pusher_internal:watchlist_events", events)))

    def _sign_out(self, state: AppState, peer: Peer, user: SignIn) -> None:
        for watched in user.watchlist:
            watchers = state.watchers.get(watched)
            if watchers is not None:
                watchers.pop(peer, None)
                if not watchers:
                    del state.watchers[watched]
        connections = state.users.get(user.user_id)
        if connections is None:
            return
        connections.pop(peer, None)
        if not connections:
            del state.users[user.user_id]
            self._watchlist_event(state, user.user_id, "offline")

    def _watchlist_event(self, state: AppState, user_id: str, name: str) -> None:
        watchers = state.watchers.get(user_id)
        if watchers:
            events = {"events": [{"name": name, "user_ids": [user_id]}]}
            frame = encode_text(encode("pusher_internal:watchlist_events", events))
            self.writer.broadcast(frame, tuple(watchers), None)

    def terminate_user(self, app: App, user_id: str) -> int:
        """Close every connection signed in as ``user_id``; return how many."""
        connections = tuple(self.states[app.id].users.get(user_id, ()))
        for peer in connections:
            peer.session.closed = True
            self.writer.close(peer, ErrorCode.UNAUTHORIZED, "Connection terminated by the server")
        return len(connections)

    # -- HTTP API ----------------------------------------------------------------------------

    def publish(
        self,
        app: App,
        channels: Iterable[str],
        event: str,
        data: str,
        *,
        exclude_socket_id: str | None = None,
        now: float,
    ) -> None:
        """Deliver an event from the HTTP API to every subscriber of ``channels``."""
        state = self.states[app.id]
        exclude = state.sockets.get(exclude_socket_id) if exclude_socket_id else None
        for name in channels:
            text = encode_event(event, name, data)
            user_id = user_channel_id(name)
            if user_id is not None:
                targets: Iterable[Peer] | None = state.users.get(user_id)
            else:
                if is_cache_channel(name):
                    state.cache[name] = (text, data, now + app.cache_ttl)
                channel = state.channels.get(name)
                targets = channel.subscribers if channel is not None else None
            if targets:
                self.writer.broadcast(encode_text(text), tuple(targets), exclude)

    def channel_info(self, app: App, name: str, now: float) -> ChannelInfo:
        state = self.states[app.id]
        channel = state.channels.get(name)
        cached = self._cached(state, name, now)
        if channel is None:
            return ChannelInfo(False, 0, 0 if name.startswith("presence-") else None, cached)
        users = len(channel.members) if channel.members is not None else None
        return ChannelInfo(True, len(channel.subscribers), users, cached)

    def occupied_channels(self, app: App, prefix: str, now: float) -> dict[str, ChannelInfo]:
        state = self.states[app.id]
        return {
            name: self.channel_info(app, name, now)
            for name in state.channels
            if name.startswith(prefix)
        }

    def presence_users(self, app: App, name: str) -> list[str]:
        channel = self.states[app.id].channels.get(name)
        if channel is None or channel.members is None:
            return []
        return list(channel.members)
