"""The real-time node: its connections' channel state, and the effects of every session.

Theory of operation
-------------------
Each app has its own :class:`AppState` (this node's channels and their presence members,
signed-in users, watchers), so nothing crosses from one app to another. A connection's
:class:`Session` decides what a client message means; the node applies the resulting effects
and hands encoded frames to the :class:`Writer`.

Every broadcast is encoded once (one text, one frame) and given to the writer with the
recipients as a snapshot tuple; no JSON work is done per recipient.

The cluster. A node is one of one (the default) or one of several, through two ports:

- the :class:`Broker` carries what the node delivers to its own connections (HTTP API
  events, client events, member and watchlist events, terminations) to the other nodes,
  as the same encoded text; each delivers it to its own connections, the excluded socket
  id left out wherever it is;
- the :class:`ClusterState` counts every node's subscriptions, presence connections and
  signed-in connections, and keeps cache channels' last events. It decides, once for the
  whole cluster, the transitions: a channel occupied or vacated, a presence user's first
  connection (``member_added``) or last (``member_removed``), a user online or offline.

The node reports each transition it is given: member and watchlist events to its own
connections and, through the broker, to everyone else's; webhooks to its sink (see
:mod:`leadcast.realtime.node_cluster`). A subscription completes when the cluster state
answers (at once with the memory backend); a connection that left meanwhile is counted out
again. When the state cannot be reached, the node acts on what it knows itself: local
delivery carries on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.channels import (
    ChannelType,
    channel_type,
    is_cache_channel,
    user_channel_id,
)
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
from leadcast.realtime.memory_backend import MemoryBroker, MemoryClusterState
from leadcast.realtime.node_cluster import AppState, Channel, ClusterSide, presence_data
from leadcast.realtime.ports import (
    Broker,
    ClusterState,
    Delivery,
    DeliveryKind,
    Joined,
    Peer,
    SignedIn,
    Transition,
    WebhookSink,
    Writer,
)
from leadcast.websocket.frames import encode_text

__all__ = ["AppState", "Channel", "Node", "presence_data"]


class Node(ClusterSide):
    """This node's connections and channels, driven by sessions, the HTTP API and the cluster.

    Args:
        broker: reaches the other nodes (default: none, a node alone).
        cluster: the state shared with them (default: this node's own, in memory).
    """

    def __init__(
        self,
        apps: AppRegistry,
        writer: Writer,
        webhooks: WebhookSink | None = None,
        *,
        broker: Broker | None = None,
        cluster: ClusterState | None = None,
    ) -> None:
        self.apps = apps
        self.writer = writer
        self.states = {
            app.id: AppState(app, hooks=webhooks if app.webhooks else None) for app in apps
        }
        self.cluster: ClusterState = cluster if cluster is not None else MemoryClusterState()
        self.node_id = self.cluster.node_id
        self.broker: Broker = broker if broker is not None else MemoryBroker(self.node_id)
        self.broker.attach(self)
        self.cluster.attach(self)

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
                self.broker.publish(
                    Delivery(DeliveryKind.CHANNEL, state.app.id, effect.channel, effect.text)
                )
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
        name = effect.channel
        channel = state.channels.get(name)
        if channel is not None and peer in channel.subscribers:
            if channel.members is None:
                self.perform(peer, peer.session.subscribed(name, effect.member, None), now)
                return
            local = channel.members

            def confirm(members: dict[str, Any] | None) -> None:
                if members is None:
                    members = {user_id: entry[0] for user_id, entry in local.items()}
                presence = presence_data(members)
                self.perform(peer, peer.session.subscribed(name, effect.member, presence), now)

            self.cluster.members(state.app, name, confirm)
            return
        self.cluster.join(
            state.app,
            name,
            effect.member,
            now,
            lambda joined: self._joined(state, peer, effect, now, joined),
        )

    def _joined(
        self, state: AppState, peer: Peer, effect: Subscribe, now: float, joined: Joined | None
    ) -> None:
        name, member = effect.channel, effect.member
        session = peer.session
        hooks = joined is not None
        if joined is None:
            joined = self._join_locally(state, name, member)
        if joined.full:
            problem = f"presence channel is full ({state.app.max_presence_members} members)"
            self.perform(peer, session.subscribe_failed(name, problem, 403), now)
            return
        if state.sockets.get(session.socket_id) is not peer:
            # The connection left while the cluster counted it in: count it out again.
            self.cluster.leave(state.app, name, member, lambda left: self._report(state, left))
            return
        channel = state.channels.get(name)
        if channel is None:
            channel = state.channels[name] = Channel()
            if channel_type(name) is ChannelType.PRESENCE:
                channel.members = {}
        if member is not None and channel.members is not None:
            entry = channel.members.get(member.user_id)
            if entry is None:
                channel.members[member.user_id] = [member.user_info, 1]
            else:
                entry[0] = member.user_info
                entry[1] += 1
        self._report(state, joined.transitions, hooks=hooks)
        channel.subscribers[peer] = None
        if joined.version and channel.members is not None:
            channel.since[peer] = joined.version
        presence = None
        if channel.members is not None:
            presence = presence_data(joined.members if joined.members is not None else {})
        self.perform(peer, session.subscribed(name, member, presence), now)
        if is_cache_channel(name):
            if joined.cached is None:
                self.writer.send(peer, encode_text(encode("pusher:cache_miss", None, name)))
                if state.hooks is not None:
                    state.hooks.cache_miss(state.app, name)
            else:
                self.writer.send(peer, encode_text(joined.cached))

    def _unsubscribe(self, state: AppState, peer: Peer, effect: Unsubscribe) -> None:
        name, member = effect.channel, effect.member
        channel = state.channels.get(name)
        if channel is None or channel.subscribers.pop(peer, 0) == 0:
            return
        channel.since.pop(peer, None)
        last_here = False
        if member is not None and channel.members is not None:
            entry = channel.members.get(member.user_id)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del channel.members[member.user_id]
                    last_here = True
        if not channel.subscribers:
            del state.channels[name]

        def left(transitions: tuple[Transition, ...] | None) -> None:
            if transitions is not None:
                self._report(state, transitions)
            elif last_here and member is not None:
                removed = Transition("removed", state.app.id, name, member.user_id)
                self._report(state, (removed,), hooks=False)

        self.cluster.leave(state.app, name, member, left)

    # -- users -------------------------------------------------------------------------------

    def _sign_in(self, state: AppState, peer: Peer, user: SignIn) -> None:
        state.users.setdefault(user.user_id, {})[peer] = None

        def signed_in(result: SignedIn | None) -> None:
            if result is None:
                result = SignedIn(
                    (Transition("online", state.app.id, "", user.user_id),)
                    if len(state.users.get(user.user_id, ())) == 1
                    else (),
                    tuple(watched for watched in user.watchlist if watched in state.users),
                )
            self._report(state, result.transitions)
            if state.sockets.get(peer.session.socket_id) is not peer:
                return
            for watched in user.watchlist:
                state.watchers.setdefault(watched, {})[peer] = None
            if result.online:
                events = {"events": [{"name": "online", "user_ids": list(result.online)}]}
                text = encode("pusher_internal:watchlist_events", events)
                self.writer.send(peer, encode_text(text))

        self.cluster.sign_in(state.app, user.user_id, user.watchlist, signed_in)

    def _sign_out(self, state: AppState, peer: Peer, user: SignIn) -> None:
        for watched in user.watchlist:
            watchers = state.watchers.get(watched)
            if watchers is not None:
                watchers.pop(peer, None)
                if not watchers:
                    del state.watchers[watched]
        connections = state.users.get(user.user_id)
        if connections is None or connections.pop(peer, 0) == 0:
            return
        last_here = not connections
        if last_here:
            del state.users[user.user_id]

        def signed_out(transitions: tuple[Transition, ...] | None) -> None:
            if transitions is None and last_here:
                transitions = (Transition("offline", state.app.id, "", user.user_id),)
            self._report(state, transitions)

        self.cluster.sign_out(state.app, user.user_id, signed_out)

    def terminate_user(self, app: App, user_id: str) -> int:
        """Close every connection signed in as ``user_id``, on every node; return how many
        were on this one."""
        self.broker.publish(Delivery(DeliveryKind.TERMINATE, app.id, user_id))
        return self._terminate_here(self.states[app.id], user_id)

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
        """Deliver an event from the HTTP API to every subscriber of ``channels``, cluster-wide."""
        state = self.states[app.id]
        exclude = state.sockets.get(exclude_socket_id) if exclude_socket_id else None
        publish = self.broker.publish
        for name in channels:
            text = encode_event(event, name, data)
            user_id = user_channel_id(name)
            if user_id is not None:
                targets: Iterable[Peer] | None = state.users.get(user_id)
                publish(Delivery(DeliveryKind.USER, app.id, user_id, text, exclude_socket_id))
            else:
                if is_cache_channel(name):
                    self.cluster.cache(app, name, text, data, now)
                channel = state.channels.get(name)
                targets = channel.subscribers if channel is not None else None
                publish(Delivery(DeliveryKind.CHANNEL, app.id, name, text, exclude_socket_id))
            if targets:
                self.writer.broadcast(encode_text(text), tuple(targets), exclude)
