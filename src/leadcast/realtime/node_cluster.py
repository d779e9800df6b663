"""The node's side of the cluster: its channel state, and what it reports to other nodes.

:class:`ClusterSide` is the part of :class:`~leadcast.realtime.node.Node` that implements the
:class:`BrokerHandler` and :class:`ClusterHandler` ports: it carries out the transitions the
cluster state decides (member and watchlist events here and, through the broker, on every
node; webhooks, by the rule in :meth:`ClusterSide._hook`) and what other nodes deliver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadcast.protocol.apps import App
from leadcast.protocol.channels import ChannelType, channel_type
from leadcast.protocol.errors import ErrorCode
from leadcast.protocol.messages import encode
from leadcast.protocol.session import Member
from leadcast.realtime.ports import (
    Broker,
    Delivery,
    DeliveryKind,
    Holding,
    Joined,
    Peer,
    Transition,
    WebhookSink,
    Writer,
)
from leadcast.websocket.frames import encode_text

__all__ = ["AppState", "Channel", "ClusterSide", "presence_data"]


@dataclass(slots=True)
class Channel:
    subscribers: dict[Peer, None] = field(default_factory=dict)
    #: Presence channels: this node's members, user id → [user_info, number of connections].
    members: dict[str, list[Any]] | None = None
    #: Presence channels: a subscriber → the member-change count its member list was read at
    #: (:attr:`Joined.version`), when the backend counts them.
    since: dict[Peer, int] = field(default_factory=dict)

    def member_targets(self, version: int) -> tuple[Peer, ...]:
        """Who a member event of ``version`` is news to: a subscriber whose member list was
        read after that change (a node can hear of a change late) already has it."""
        since = self.since
        if not version or not since:
            return tuple(self.subscribers)
        return tuple(peer for peer in self.subscribers if since.get(peer, 0) < version)


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


class ClusterSide:
    """Transitions and deliveries, for :class:`~leadcast.realtime.node.Node`."""

    states: dict[str, AppState]
    writer: Writer
    broker: Broker
    node_id: str

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
                version = transition.version
                channel = state.channels.get(name)
                if channel is not None:
                    targets = channel.member_targets(version)
                    self.writer.broadcast(encode_text(text), targets, None)
                self.broker.publish(
                    Delivery(DeliveryKind.CHANNEL, app.id, name, text, version=version)
                )
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
        targets: Iterable[Peer] | None
        if kind is DeliveryKind.CHANNEL:
            channel = state.channels.get(delivery.target)
            targets = channel.member_targets(delivery.version) if channel is not None else None
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

    def _watchlist_event(self, state: AppState, user_id: str, name: str) -> None:
        watchers = state.watchers.get(user_id)
        if watchers:
            events = {"events": [{"name": name, "user_ids": [user_id]}]}
            frame = encode_text(encode("pusher_internal:watchlist_events", events))
            self.writer.broadcast(frame, tuple(watchers), None)

    def _terminate_here(self, state: AppState, user_id: str) -> int:
        connections = tuple(state.users.get(user_id, ()))
        for peer in connections:
            peer.session.closed = True
            self.writer.close(peer, ErrorCode.UNAUTHORIZED, "Connection terminated by the server")
        return len(connections)

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
