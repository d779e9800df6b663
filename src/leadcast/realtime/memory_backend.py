"""The memory backend of the cluster ports: one node by default, or several in one process.

Theory of operation
-------------------
A lone node (``leadcast realtime`` without ``--redis-url``) gets a :class:`MemoryBroker` with
no bus, whose ``publish`` does nothing, and a :class:`MemoryClusterState` over its own
:class:`MemoryCluster`: plain dictionaries, answered before ``join`` and the other calls
return, so the node behaves and performs as a single server always did.

Several nodes in one process (the tests) share one :class:`MemoryBus` and one
:class:`MemoryCluster`: each node's broker calls the other nodes' handlers directly, and the
shared dictionaries count every node's subscriptions under its id, exactly as the Redis
backend counts them in Redis. :meth:`MemoryCluster.drop` plays a node that crashed.

Hold markers: when a channel is vacated (a member removed) on an app with webhooks, the
cluster remembers for ``hold`` seconds which node holds that webhook. The ``occupied``
(``added``) that reverses it within that time names that node as ``holder``, so the node
that holds the event, and only it, drops both (see :class:`~leadcast.realtime.ports.Transition`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from leadcast.protocol.apps import App
from leadcast.protocol.session import Member
from leadcast.realtime.ports import (
    BrokerHandler,
    ChannelSummary,
    ClusterHandler,
    Delivery,
    Joined,
    SignedIn,
    Transition,
)

__all__ = ["MemoryBroker", "MemoryBus", "MemoryCluster", "MemoryClusterState", "new_node_id"]


def new_node_id() -> str:
    """A random 9-digit node id: the prefix of the node's socket ids."""
    return str(random.SystemRandom().randint(100_000_000, 999_999_999))


class MemoryBus:
    """Connects the brokers of nodes that run in one process."""

    def __init__(self) -> None:
        self.handlers: dict[str, BrokerHandler] = {}


class MemoryBroker:
    """The :class:`~leadcast.realtime.ports.Broker` of a node alone, or of nodes sharing a bus."""

    def __init__(self, node_id: str = "", bus: MemoryBus | None = None) -> None:
        self.node_id = node_id
        self.bus = bus

    def attach(self, handler: BrokerHandler) -> None:
        if self.bus is not None:
            self.bus.handlers[self.node_id] = handler

    def publish(self, delivery: Delivery) -> None:
        bus = self.bus
        if bus is not None:
            for node_id, handler in list(bus.handlers.items()):
                if node_id != self.node_id:
                    handler.on_delivery(delivery)


class MemoryCluster:
    """The state shared by the nodes of one process.

    Args:
        hold: seconds a vacated channel or removed member stays held (the webhook delay).
        clock: monotonic seconds, for the hold markers.
    """

    def __init__(self, *, hold: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        self.clock = clock
        #: (app, channel) → node → subscriptions.
        self.subs: dict[tuple[str, str], dict[str, int]] = {}
        #: (app, channel) → user → [user info, {node → connections}].
        self.members: dict[tuple[str, str], dict[str, list[Any]]] = {}
        #: app → user → node → signed-in connections.
        self.users: dict[str, dict[str, dict[str, int]]] = {}
        #: (app, channel) → (event text, data, expiry).
        self.cached: dict[tuple[str, str], tuple[str, str, float]] = {}
        #: (app, channel[, user]) → (holding node, expiry).
        self.holds: dict[tuple[str, ...], tuple[str, float]] = {}
        self.handlers: dict[str, ClusterHandler] = {}

    def drop(self, node_id: str) -> tuple[Transition, ...]:
        """Forget a node (it crashed): what it counted goes, and one surviving node hears of
        the transitions, as the Redis backend's survivors find an expired node."""
        self.handlers.pop(node_id, None)
        found: list[Transition] = []
        reporter = next(iter(self.handlers), node_id)
        for (app_id, channel), members in list(self.members.items()):
            for user_id, entry in list(members.items()):
                count = entry[1].pop(node_id, 0)
                if count and not entry[1]:
                    del members[user_id]
                    self._hold((app_id, channel, user_id), reporter)
                    found.append(Transition("removed", app_id, channel, user_id))
            if not members:
                del self.members[(app_id, channel)]
        for (app_id, channel), nodes in list(self.subs.items()):
            if nodes.pop(node_id, 0) and not nodes:
                del self.subs[(app_id, channel)]
                self._hold((app_id, channel), reporter)
                found.append(Transition("vacated", app_id, channel))
        for app_id, users in self.users.items():
            for user_id, nodes in list(users.items()):
                if nodes.pop(node_id, 0) and not nodes:
                    del users[user_id]
                    found.append(Transition("offline", app_id, "", user_id))
        handler = self.handlers.get(reporter)
        if found and handler is not None:
            handler.on_transitions(found)
        return tuple(found)

    def _hold(self, key: tuple[str, ...], node_id: str) -> None:
        self.holds[key] = (node_id, self.clock() + self.hold)

    def _unhold(self, key: tuple[str, ...]) -> str | None:
        held = self.holds.pop(key, None)
        if held is None or held[1] <= self.clock():
            return None
        return held[0]


class MemoryClusterState:
    """The :class:`~leadcast.realtime.ports.ClusterState` of one node over a
    :class:`MemoryCluster`. Every ``done`` is called before the method returns."""

    def __init__(self, cluster: MemoryCluster | None = None, node_id: str | None = None) -> None:
        self.cluster = cluster if cluster is not None else MemoryCluster()
        self.node_id = node_id or new_node_id()

    def attach(self, handler: ClusterHandler) -> None:
        self.cluster.handlers[self.node_id] = handler

    # -- changes -------------------------------------------------------------------------------

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        cluster, node, key = self.cluster, self.node_id, (app.id, channel)
        hooks = bool(app.webhooks)
        members: dict[str, list[Any]] | None = None
        if member is not None:
            members = cluster.members.get(key)
            known = members is not None and member.user_id in members
            if not known and len(members or ()) >= app.max_presence_members:
                done(Joined(full=True))
                return
        transitions: list[Transition] = []
        nodes = cluster.subs.get(key)
        if nodes is None:
            nodes = cluster.subs[key] = {}
            holder = cluster._unhold(key) if hooks else None
            transitions.append(Transition("occupied", app.id, channel, holder=holder))
        nodes[node] = nodes.get(node, 0) + 1
        snapshot: dict[str, Any] | None = None
        if member is not None:
            if members is None:
                members = cluster.members[key] = {}
            user_id = member.user_id
            entry = members.get(user_id)
            if entry is None:
                members[user_id] = [member.user_info, {node: 1}]
                holder = cluster._unhold((*key, user_id)) if hooks else None
                transitions.append(
                    Transition("added", app.id, channel, user_id, holder, member.user_info)
                )
            else:
                entry[0] = member.user_info
                entry[1][node] = entry[1].get(node, 0) + 1
            snapshot = {user: entry[0] for user, entry in members.items()}
        cached = self._cached(key, now)
        done(Joined(False, tuple(transitions), snapshot, cached[0] if cached else None))

    def leave(
        self,
        app: App,
        channel: str,
        member: Member | None,
        done: Callable[[tuple[Transition, ...] | None], None],
    ) -> None:
        cluster, node, key = self.cluster, self.node_id, (app.id, channel)
        hooks = bool(app.webhooks)
        transitions: list[Transition] = []
        if member is not None:
            members = cluster.members.get(key)
            entry = members.get(member.user_id) if members is not None else None
            if members is not None and entry is not None and node in entry[1]:
                entry[1][node] -= 1
                if entry[1][node] <= 0:
                    del entry[1][node]
                    if not entry[1]:
                        del members[member.user_id]
                        if not members:
                            del cluster.members[key]
                        if hooks:
                            cluster._hold((*key, member.user_id), node)
                        transitions.append(Transition("removed", app.id, channel, member.user_id))
        nodes = cluster.subs.get(key)
        if nodes is not None and node in nodes:
            nodes[node] -= 1
            if nodes[node] <= 0:
                del nodes[node]
                if not nodes:
                    del cluster.subs[key]
                    if hooks:
                        cluster._hold(key, node)
                    transitions.append(Transition("vacated", app.id, channel))
        done(tuple(transitions))

    def sign_in(
        self,
        app: App,
        user_id: str,
        watchlist: tuple[str, ...],
        done: Callable[[SignedIn | None], None],
    ) -> None:
        users = self.cluster.users.setdefault(app.id, {})
        nodes = users.get(user_id)
        transitions: tuple[Transition, ...] = ()
        if nodes is None:
            nodes = users[user_id] = {}
            transitions = (Transition("online", app.id, "", user_id),)
        nodes[self.node_id] = nodes.get(self.node_id, 0) + 1
        done(SignedIn(transitions, tuple(watched for watched in watchlist if watched in users)))

    def sign_out(
        self, app: App, user_id: str, done: Callable[[tuple[Transition, ...] | None], None]
    ) -> None:
        users = self.cluster.users.get(app.id, {})
        nodes = users.get(user_id)
        node = self.node_id
        if nodes is None or node not in nodes:
            done(())
            return
        nodes[node] -= 1
        if nodes[node] > 0:
            done(())
            return
        del nodes[node]
        if nodes:
            done(())
            return
        del users[user_id]
        done((Transition("offline", app.id, "", user_id),))

    def members(
        self, app: App, channel: str, done: Callable[[dict[str, Any] | None], None]
    ) -> None:
        members = self.cluster.members.get((app.id, channel), {})
        done({user_id: entry[0] for user_id, entry in members.items()})

    def cache(self, app: App, channel: str, text: str, data: str, now: float) -> None:
        self.cluster.cached[(app.id, channel)] = (text, data, now + app.cache_ttl)

    def _cached(self, key: tuple[str, str], now: float) -> tuple[str, str, float] | None:
        cached = self.cluster.cached.get(key)
        if cached is not None and cached[2] <= now:
            del self.cluster.cached[key]
            return None
        return cached

    # -- queries -------------------------------------------------------------------------------

    async def channel(self, app: App, channel: str, now: float) -> ChannelSummary:
        return self._summary(app.id, channel, now)

    def _summary(self, app_id: str, channel: str, now: float) -> ChannelSummary:
        key = (app_id, channel)
        nodes = self.cluster.subs.get(key)
        count = sum(nodes.values()) if nodes else 0
        users = None
        if channel.startswith("presence-"):
            users = len(self.cluster.members.get(key, ()))
        cached = self._cached(key, now)
        cache = None if cached is None else (cached[0], cached[1], cached[2] - now)
        return ChannelSummary(count > 0, count, users, cache)

    async def channels(self, app: App, prefix: str, now: float) -> dict[str, ChannelSummary]:
        return {
            channel: self._summary(app.id, channel, now)
            for (app_id, channel) in self.cluster.subs
            if app_id == app.id and channel.startswith(prefix)
        }

    async def users(self, app: App, channel: str) -> list[str]:
        return list(self.cluster.members.get((app.id, channel), ()))
