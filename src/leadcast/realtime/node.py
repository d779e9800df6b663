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
:meth:`Node._hook`). A subscription completes when the cluster state answers (at once with
the memory backend); a connection that left meanwhile is counted out again. When the state
cannot be reached, the node acts on what it knows itself: local delivery carries on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    Member,
    Publish,
    Send,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from leadcast.realtime.memory_backend import MemoryBroker, MemoryClusterState
from leadcast.realtime.ports import (
    Broker,
    ClusterState,
    Delivery,
    DeliveryKind,
    Holding,
    Joined,
    Peer,
    SignedIn,
    Transition,
    WebhookSink,
    Writer,
)
from leadcast.websocket.frames import encode_text

__all__ = ["AppState", "Channel", "Node", "presence_data"]


@dataclass(slots=True)
class Channel:
    subscribers: dict[Peer, None] = field(default_factory=dict)
    #: Presence channels: this node's members, user id → [user_info, number of connections].
    members: dict[str, list[Any]] | None = None


@dataclass(slots=True)
class AppState:
    app: App
    channels: dict[str, Channel] = field(default_factory=dict)
    users: dict[str, dict[Peer, None]] = field(default_factory=dict)
    watchers: dict[str, dict[Peer, None]] = field(default_factory=dict)
    sockets: dict[str, Peer] = field(default_factory=dict)
    #: Where this app's webhook events go; ``None`` when the app has no webhooks.
    hooks: WebhookSink | None = None

    @property
    def connections(self) -> int:
        return len(self.sockets)


def presence_data(members: dict[str, Any]) -> dict[str, Any]:
    """``subscription_succeeded``'s presence data from user id → user info."""
    return {"ids": list(members), "hash": members, "count": len(members)}


class Node:
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

    @staticmethod
    def _join_locally(state: AppState, name: str, member: Member | None) -> Joined:
        """What a join means when the cluster state cannot be reached: this node's view."""
        channel = state.channels.get(name)
        members = (
            {user_id: entry[0] for user_id, entry in (channel.members or {}).items()}
            if channel is not None
            else {}
        )
        if member is None:
            return Joined(members=members if channel_type(name) is ChannelType.PRESENCE else None)
        transitions: tuple[Transition, ...] = ()
        if member.user_id not in members:
            if len(members) >= state.app.max_presence_members:
                return Joined(full=True)
            transitions = (
                Transition("added", state.app.id, name, member.user_id, None, member.user_info),
            )
        members[member.user_id] = member.user_info
        return Joined(False, transitions, members)

    def _unsubscribe(self, state: AppState, peer: Peer, effect: Unsubscribe) -> None:
        name, member = effect.channel, effect.member
        channel = state.channels.get(name)
        if channel is None or channel.subscribers.pop(peer, 0) == 0:
            return
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

    # -- transitions and other nodes -----------------------------------------------------------

    def _report(
        self, state: AppState, transitions: Sequence[Transition] | None, *, hooks: bool = True
    ) -> None:
        """Carry out cluster-wide transitions: events here and on every node, webhooks."""
        app = state.app
        sink = state.hooks if hooks else None
        for transition in transitions or ():
            kind, name, user_id = transition.kind, transition.channel, transition.user_id
            if kind == "added" or kind == "removed":
                assert user_id is not None
                if kind == "added":
                    data = {"user_id": user_id, "user_info": transition.user_info}
                else:
                    data = {"user_id": user_id}
                text = encode(f"pusher_internal:member_{kind}", data, name)
                channel = state.channels.get(name)
                if channel is not None:
                    self.writer.broadcast(encode_text(text), tuple(channel.subscribers), None)
                self.broker.publish(Delivery(DeliveryKind.CHANNEL, app.id, name, text))
                if sink is not None:
                    if kind == "added":
                        self._hook(state, "member_added", transition)
                    else:
                        sink.member_removed(app, name, user_id)
            elif kind == "occupied":
                if sink is not None:
                    self._hook(state, "channel_occupied", transition)
            elif kind == "vacated":
                if sink is not None:
                    sink.channel_vacated(app, name)
            elif user_id is not None:  # online, offline
                self._watchlist_event(state, user_id, kind)
                events = {"events": [{"name": kind, "user_ids": [user_id]}]}
                text = encode("pusher_internal:watchlist_events", events)
                self.broker.publish(Delivery(DeliveryKind.WATCHERS, app.id, user_id, text))

    def _hook(self, state: AppState, event: str, transition: Transition) -> None:
        """Report ``channel_occupied`` / ``member_added``: here, or, when it reverses an event
        another node still holds, on that node, whose webhooks then drop both."""
        holder = transition.holder
        if holder is not None and holder != self.node_id:
            delivery = Delivery(
                DeliveryKind.HOOK,
                state.app.id,
                transition.channel,
                event,
                user_id=transition.user_id,
                node=holder,
            )
            self.broker.publish(delivery)
        elif state.hooks is not None:
            if transition.user_id is None:
                state.hooks.channel_occupied(state.app, transition.channel)
            else:
                state.hooks.member_added(state.app, transition.channel, transition.user_id)

    def on_delivery(self, delivery: Delivery) -> None:
        """The :class:`BrokerHandler` port: what another node delivered, for ours."""
        state = self.states.get(delivery.app_id)
        if state is None:
            return
        kind = delivery.kind
        targets: dict[Peer, None] | None
        if kind is DeliveryKind.CHANNEL:
            channel = state.channels.get(delivery.target)
            targets = channel.subscribers if channel is not None else None
        elif kind is DeliveryKind.USER:
            targets = state.users.get(delivery.target)
        elif kind is DeliveryKind.WATCHERS:
            targets = state.watchers.get(delivery.target)
        elif kind is DeliveryKind.TERMINATE:
            self._terminate_here(state, delivery.target)
            return
        else:
            if delivery.node == self.node_id and state.hooks is not None:
                self._hook(
                    state,
                    delivery.text,
                    Transition("", state.app.id, delivery.target, delivery.user_id),
                )
            return
        if targets:
            exclude = state.sockets.get(delivery.exclude) if delivery.exclude else None
            self.writer.broadcast(encode_text(delivery.text), tuple(targets), exclude)

    def on_transitions(self, transitions: Sequence[Transition]) -> None:
        """The :class:`ClusterHandler` port: transitions the cluster state found itself."""
        for transition in transitions:
            state = self.states.get(transition.app_id)
            if state is not None:
                self._report(state, (transition,))

    def holding(self) -> Holding:
        """The :class:`ClusterHandler` port: what this node counts in the cluster."""
        channels: dict[tuple[str, str], int] = {}
        members: dict[tuple[str, str, str], tuple[Any, int]] = {}
        users: dict[tuple[str, str], int] = {}
        for app_id, state in self.states.items():
            for name, channel in state.channels.items():
                channels[(app_id, name)] = len(channel.subscribers)
                for user_id, (info, count) in (channel.members or {}).items():
                    members[(app_id, name, user_id)] = (info, count)
            for user_id, connections in state.users.items():
                users[(app_id, user_id)] = len(connections)
        return Holding(channels, members, users)

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

    def _watchlist_event(self, state: AppState, user_id: str, name: str) -> None:
        watchers = state.watchers.get(user_id)
        if watchers:
            events = {"events": [{"name": name, "user_ids": [user_id]}]}
            frame = encode_text(encode("pusher_internal:watchlist_events", events))
            self.writer.broadcast(frame, tuple(watchers), None)

    def terminate_user(self, app: App, user_id: str) -> int:
        """Close every connection signed in as ``user_id``, on every node; return how many
        were on this one."""
        self.broker.publish(Delivery(DeliveryKind.TERMINATE, app.id, user_id))
        return self._terminate_here(self.states[app.id], user_id)

    def _terminate_here(self, state: AppState, user_id: str) -> int:
        connections = tuple(state.users.get(user_id, ()))
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
