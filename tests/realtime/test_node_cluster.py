"""Nodes in a cluster: two (or three) nodes in one process over the memory backend.

The nodes share a :class:`MemoryBus` and a :class:`MemoryCluster`, so what one publishes or
counts reaches the others exactly as through Redis; each has its own recording writer and
webhook sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from leadcast.protocol import App, AppRegistry
from leadcast.protocol.apps import Webhook
from leadcast.protocol.messages import encode
from leadcast.protocol.session import Member
from leadcast.realtime import node_cluster
from leadcast.realtime.memory_backend import (
    MemoryBroker,
    MemoryBus,
    MemoryCluster,
    MemoryClusterState,
    new_node_id,
)
from leadcast.realtime.node import Node
from leadcast.realtime.ports import Delivery, DeliveryKind, Joined, SignedIn, Transition
from tests.realtime.fakes import RecordingWriter, run_sync
from tests.realtime.test_node import (
    client_event,
    connect,
    presence_of,
    sign_in,
    subscribe,
    unsubscribe,
    watchlist_events,
)

APP = App(
    "1",
    "key-1",
    "secret-1",
    client_events=True,
    webhooks=(Webhook("http://127.0.0.1:9/hook"),),
)


class RecordingSink:
    """A webhook sink that records each call as ``(kind, channel[, user id])``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def channel_occupied(self, app: App, channel: str) -> None:
        self.calls.append(("channel_occupied", channel))

    def channel_vacated(self, app: App, channel: str) -> None:
        self.calls.append(("channel_vacated", channel))

    def member_added(self, app: App, channel: str, user_id: str) -> None:
        self.calls.append(("member_added", channel, user_id))

    def member_removed(self, app: App, channel: str, user_id: str) -> None:
        self.calls.append(("member_removed", channel, user_id))

    def client_event(self, app: App, channel: str, *args: Any) -> None:
        self.calls.append(("client_event", channel))

    def cache_miss(self, app: App, channel: str) -> None:
        self.calls.append(("cache_miss", channel))


class TestMember:
    __test__ = False

    """One node of the test cluster with its writer and sink."""

    def __init__(self, node: Node, writer: RecordingWriter, sink: RecordingSink) -> None:
        self.node = node
        self.writer = writer
        self.sink = sink


class Cluster:
    def __init__(self) -> None:
        self.bus = MemoryBus()
        self.shared = MemoryCluster(hold=3.0, clock=lambda: self.clock)
        self.clock = 0.0

    def node(self, state: Any = None) -> TestMember:
        node_id = new_node_id()
        writer, sink = RecordingWriter(), RecordingSink()
        node = Node(
            AppRegistry([APP]),
            writer,
            sink,
            broker=MemoryBroker(node_id, self.bus),
            cluster=state or MemoryClusterState(self.shared, node_id),
        )
        return TestMember(node, writer, sink)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_an_event_published_on_one_node_reaches_every_subscriber_once(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    here, there, excluded = connect(a.node), connect(b.node), connect(b.node)
    for node, peer in ((a, here), (b, there), (b, excluded)):
        subscribe(node.node, peer, "leads")
    a.writer.clear()
    b.writer.clear()
    b.node.publish(
        APP, ["leads"], "lead", "{}", exclude_socket_id=excluded.session.socket_id, now=0.0
    )
    assert a.writer.recipients("lead") == [here]
    assert b.writer.recipients("lead") == [there]
    a.node.publish(APP, ["leads"], "again", "{}", exclude_socket_id=here.session.socket_id, now=0.0)
    assert a.writer.recipients("again") == []
    assert b.writer.recipients("again") == [there, excluded]


def test_client_events_and_user_events_cross_nodes(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    sender, listener = connect(a.node), connect(b.node)
    subscribe(a.node, sender, "private-chat")
    subscribe(b.node, listener, "private-chat")
    client_event(a.node, sender, "private-chat", {"t": 1})
    assert b.writer.recipients("client-typing") == [listener]
    assert a.writer.recipients("client-typing") == []

    sign_in(b.node, listener, "42")
    a.node.publish(APP, ["#server-to-user-42"], "note", "hi", now=0.0)
    assert b.writer.recipients("note") == [listener]

    assert a.node.terminate_user(APP, "42") == 0
    assert b.writer.closes == [(listener, 4009, "Connection terminated by the server")]


def test_presence_members_and_member_events_span_the_cluster(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    ann_a, watcher, ann_b, bob = (connect(n.node) for n in (a, b, b, b))
    subscribe(a.node, ann_a, "presence-room", user_id="ann", user_info={"n": "Ann"})
    subscribe(b.node, watcher, "presence-room", user_id="cat")
    assert presence_of(b.writer.to(watcher)[-1])["hash"] == {"ann": {"n": "Ann"}, "cat": None}
    assert a.writer.recipients("pusher_internal:member_added") == [ann_a]

    a.writer.clear()
    subscribe(b.node, ann_b, "presence-room", user_id="ann", user_info={"n": "Ann"})
    subscribe(b.node, bob, "presence-room", user_id="bob")
    added = [m for m in a.writer.to(ann_a) if m["event"] == "pusher_internal:member_added"]
    assert [m["data"] for m in added] == ['{"user_id":"bob","user_info":null}']
    assert b.sink.calls.count(("member_added", "presence-room", "ann")) == 0
    assert a.sink.calls == [
        ("channel_occupied", "presence-room"),
        ("member_added", "presence-room", "ann"),
    ]

    b.writer.clear()
    unsubscribe(a.node, ann_a, "presence-room")  # ann is still on b
    assert b.writer.recipients("pusher_internal:member_removed") == []
    unsubscribe(b.node, ann_b, "presence-room")
    assert b.writer.recipients("pusher_internal:member_removed") == [watcher, bob]
    assert b.sink.calls[-1] == ("member_removed", "presence-room", "ann")
    assert ("member_removed", "presence-room", "ann") not in a.sink.calls


def test_a_quick_return_on_another_node_is_dropped_by_the_node_holding_the_webhook(
    cluster: Cluster,
) -> None:
    a, b = cluster.node(), cluster.node()
    first = connect(a.node)
    subscribe(a.node, first, "leads")
    unsubscribe(a.node, first, "leads")
    assert a.sink.calls == [("channel_occupied", "leads"), ("channel_vacated", "leads")]
    subscribe(b.node, connect(b.node), "leads")
    # a's sink hears the return (and drops what it holds); b sends nothing.
    assert a.sink.calls[-1] == ("channel_occupied", "leads")
    assert b.sink.calls == []
    unsubscribe(b.node, next(iter(b.node.state(APP).sockets.values())), "leads")
    assert b.sink.calls == [("channel_vacated", "leads")]
    cluster.clock = 10.0  # after the delay: the return is a plain occupy, by its node
    subscribe(a.node, connect(a.node), "leads")
    assert b.sink.calls == [("channel_vacated", "leads")]
    assert a.sink.calls[-2:] == [("channel_occupied", "leads"), ("channel_occupied", "leads")]


def test_a_stopped_node_s_members_are_removed_for_the_other_nodes(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    gone, stays = connect(a.node), connect(b.node)
    subscribe(a.node, gone, "presence-room", user_id="ann")
    subscribe(a.node, gone, "private-only-a")
    subscribe(b.node, stays, "presence-room", user_id="bob")
    sign_in(b.node, stays, "bob", watchlist=["ann"])
    sign_in(a.node, gone, "ann")
    assert watchlist_events(b.writer, stays)[-1] == [{"name": "online", "user_ids": ["ann"]}]
    b.writer.clear()

    cluster.shared.drop(a.node.node_id)
    assert [m["data"] for m in b.writer.to(stays)] == [
        '{"user_id":"ann"}',
        '{"events":[{"name":"offline","user_ids":["ann"]}]}',
    ]
    assert b.sink.calls[-2:] == [
        ("member_removed", "presence-room", "ann"),
        ("channel_vacated", "private-only-a"),
    ]
    assert run_sync(b.node.cluster.users(APP, "presence-room")) == ["bob"]


def test_watchlist_online_and_offline_cross_nodes(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    bob = connect(a.node)
    sign_in(a.node, bob, "bob", watchlist=["ann"])
    ann_1, ann_2 = connect(b.node), connect(a.node)
    sign_in(b.node, ann_1, "ann")
    sign_in(a.node, ann_2, "ann")
    a.node.disconnect(ann_2)
    assert watchlist_events(a.writer, bob) == [[{"name": "online", "user_ids": ["ann"]}]]
    b.node.disconnect(ann_1)
    assert watchlist_events(a.writer, bob)[-1] == [{"name": "offline", "user_ids": ["ann"]}]


# -- when the cluster state answers late, or not at all ------------------------------------------


class Deferred(MemoryClusterState):
    """Answers only when :meth:`flush` is called, in order, as the Redis backend does."""

    def __init__(self, shared: MemoryCluster) -> None:
        super().__init__(shared)
        self.waiting: list[Callable[[], None]] = []

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        self.waiting.append(lambda: super(Deferred, self).join(app, channel, member, now, done))

    def leave(
        self,
        app: App,
        channel: str,
        member: Member | None,
        done: Callable[[tuple[Transition, ...] | None], None],
    ) -> None:
        self.waiting.append(lambda: super(Deferred, self).leave(app, channel, member, done))

    def flush(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()


class Versioned(MemoryClusterState):
    """Answers presence joins with the member-change count, as the Redis backend does."""

    def __init__(self, shared: MemoryCluster) -> None:
        super().__init__(shared)
        self.version = 0

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        def versioned(joined: Joined | None) -> None:
            done(joined if joined is None else replace(joined, version=self.version))

        super().join(app, channel, member, now, versioned)


def test_a_member_event_heard_late_reaches_only_the_subscribers_it_is_news_to(
    cluster: Cluster,
) -> None:
    """Another node's member_added can arrive after this node answered a subscription whose
    member list already counted that member: that subscriber must not hear it twice."""
    state = Versioned(cluster.shared)
    b = cluster.node(state)
    early, late, plain = connect(b.node), connect(b.node), connect(b.node)
    state.version = 4
    subscribe(b.node, early, "presence-room", user_id="cat")
    state.version = 7
    subscribe(b.node, late, "presence-room", user_id="bob")
    state.version = 0  # a backend that orders member events itself
    subscribe(b.node, plain, "presence-room", user_id="dan")

    def heard(version: int) -> list[Any]:
        b.writer.clear()
        text = encode("pusher_internal:member_added", {"user_id": "ann"}, "presence-room")
        b.node.on_delivery(
            Delivery(DeliveryKind.CHANNEL, APP.id, "presence-room", text, version=version)
        )
        return b.writer.recipients("pusher_internal:member_added")

    assert heard(6) == [early, plain]  # counted in late's list already
    assert heard(8) == [early, late, plain]
    assert heard(0) == [early, late, plain]

    unsubscribe(b.node, late, "presence-room")
    assert late not in b.node.states[APP.id].channels["presence-room"].since


class Down(MemoryClusterState):
    """A cluster state that cannot be reached: every change answers ``None``."""

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        done(None)

    def leave(
        self,
        app: App,
        channel: str,
        member: Member | None,
        done: Callable[[tuple[Transition, ...] | None], None],
    ) -> None:
        done(None)

    def sign_in(
        self,
        app: App,
        user_id: str,
        watchlist: tuple[str, ...],
        done: Callable[[SignedIn | None], None],
    ) -> None:
        done(None)

    def sign_out(
        self, app: App, user_id: str, done: Callable[[tuple[Transition, ...] | None], None]
    ) -> None:
        done(None)


def test_a_connection_that_leaves_before_the_join_is_answered_is_counted_out(
    cluster: Cluster,
) -> None:
    state = Deferred(cluster.shared)
    a = cluster.node(state)
    peer = connect(a.node)
    subscribe(a.node, peer, "presence-room", user_id="ann")
    assert a.writer.events(peer) == ["pusher:connection_established"]
    a.node.disconnect(peer)
    state.flush()
    assert run_sync(state.channel(APP, "presence-room", 0.0)).occupied is False
    assert a.node.state(APP).channels == {}
    assert a.writer.events(peer) == ["pusher:connection_established"]


def test_without_the_cluster_state_a_node_serves_its_own_clients(cluster: Cluster) -> None:
    a = cluster.node(Down(cluster.shared))
    one, two = connect(a.node), connect(a.node)
    subscribe(a.node, one, "presence-room", user_id="ann")
    subscribe(a.node, two, "presence-room", user_id="bob")
    assert presence_of(a.writer.to(two)[-1])["ids"] == ["ann", "bob"]
    assert a.writer.recipients("pusher_internal:member_added") == [one]
    a.node.publish(APP, ["presence-room"], "lead", "{}", now=0.0)
    assert a.writer.recipients("lead") == [one, two]
    sign_in(a.node, one, "ann")
    watcher = connect(a.node)
    sign_in(a.node, watcher, "bob", watchlist=["ann"])
    assert watchlist_events(a.writer, watcher) == [[{"name": "online", "user_ids": ["ann"]}]]
    a.node.disconnect(one)
    assert a.writer.recipients("pusher_internal:member_removed") == [two]
    assert watchlist_events(a.writer, watcher)[-1] == [{"name": "offline", "user_ids": ["ann"]}]
    assert a.sink.calls == []  # webhooks wait for the cluster state: its rebuild reports them


def test_a_delivery_from_another_node_is_framed_once_for_all_subscribers(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = cluster.node(), cluster.node()
    peers = [connect(a.node) for _ in range(3)]
    for peer in peers:
        subscribe(a.node, peer, "leads")
    a.writer.clear()
    framed: list[str] = []
    real = node_cluster.encode_text

    def counting(text: str) -> bytes:
        framed.append(text)
        return real(text)

    monkeypatch.setattr(node_cluster, "encode_text", counting)
    b.node.publish(APP, ["leads"], "lead", '{"id":1}', now=0.0)
    assert framed == ['{"event":"lead","channel":"leads","data":"{\\"id\\":1}"}']
    ((_, recipients, _),) = a.writer.broadcasts
    assert list(recipients) == peers
