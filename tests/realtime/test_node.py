"""The node: shared channel state driven by session effects, observed through the Writer port."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from leadcast.protocol import App, AppRegistry, Member, Publish, Session, Subscribe, Unsubscribe
from leadcast.protocol.signatures import channel_auth, user_auth
from leadcast.realtime import node as node_module
from leadcast.realtime.memory_backend import MemoryClusterState
from leadcast.realtime.node import Node, presence_data
from leadcast.realtime.ports import ChannelSummary
from tests.realtime.fakes import FakePeer, RecordingWriter, decode_frame, payload, run_sync

APP = App(
    "1",
    "key-1",
    "secret-1",
    client_events=True,
    max_presence_members=3,
    cache_ttl=60,
    activity_timeout=120,
    pong_timeout=30,
)
APP2 = App("2", "key-2", "secret-2", client_events=True)


@pytest.fixture
def writer() -> RecordingWriter:
    return RecordingWriter()


@pytest.fixture
def node(writer: RecordingWriter) -> Node:
    return Node(AppRegistry([APP, APP2]), writer)


_socket_ids = itertools.count(1)


def channel_info(node: Node, app: App, name: str, now: float) -> ChannelSummary:
    """The cluster state's answer for one channel (the HTTP API's source)."""
    return run_sync(node.cluster.channel(app, name, now))


def occupied_channels(node: Node, app: App, prefix: str, now: float) -> dict[str, ChannelSummary]:
    return run_sync(node.cluster.channels(app, prefix, now))


def presence_users(node: Node, app: App, name: str) -> list[str]:
    return run_sync(node.cluster.users(app, name))


def cached_channels(node: Node, app: App = APP) -> set[str]:
    """The channels the (memory) cluster state holds a cached event for."""
    assert isinstance(node.cluster, MemoryClusterState)
    return {name for app_id, name in node.cluster.cluster.cached if app_id == app.id}


def connect(node: Node, app: App = APP, *, now: float = 0.0, name: str | None = None) -> FakePeer:
    socket_id = f"{app.id}00.{next(_socket_ids)}"
    peer = FakePeer(Session(app, socket_id, now), name)
    node.connect(peer, now)
    return peer


def send(node: Node, peer: FakePeer, event: str, data: Any = None, *, now: float = 0.0) -> None:
    raw: dict[str, Any] = {"event": event}
    if data is not None:
        raw["data"] = data
    node.receive(peer, json.dumps(raw), now)


def subscribe(
    node: Node,
    peer: FakePeer,
    channel: str,
    *,
    user_id: str | None = None,
    user_info: Any = None,
    now: float = 0.0,
) -> None:
    app = peer.session.app
    data: dict[str, Any] = {"channel": channel}
    channel_data = None
    if user_id is not None:
        channel_data = json.dumps({"user_id": user_id, "user_info": user_info})
        data["channel_data"] = channel_data
    if channel.startswith(("private-", "presence-")):
        data["auth"] = channel_auth(
            app.key, app.secret, peer.session.socket_id, channel, channel_data
        )
    node.receive(peer, json.dumps({"event": "pusher:subscribe", "data": data}), now)


def unsubscribe(node: Node, peer: FakePeer, channel: str) -> None:
    text = json.dumps({"event": "pusher:unsubscribe", "data": {"channel": channel}})
    node.receive(peer, text, 0.0)


def sign_in(
    node: Node,
    peer: FakePeer,
    user_id: str,
    *,
    watchlist: list[str] | None = None,
    user_info: Any = None,
) -> None:
    app = peer.session.app
    user: dict[str, Any] = {"id": user_id}
    if watchlist is not None:
        user["watchlist"] = watchlist
    if user_info is not None:
        user["user_info"] = user_info
    user_data = json.dumps(user)
    auth = user_auth(app.key, app.secret, peer.session.socket_id, user_data)
    text = json.dumps({"event": "pusher:signin", "data": {"user_data": user_data, "auth": auth}})
    node.receive(peer, text, 0.0)


def client_event(node: Node, peer: FakePeer, channel: str, data: Any, *, now: float = 0.0) -> None:
    text = json.dumps({"event": "client-typing", "channel": channel, "data": data})
    node.receive(peer, text, now)


def presence_of(message: dict[str, Any]) -> Any:
    assert message["event"] == "pusher_internal:subscription_succeeded", message
    return payload(message)["presence"]


def watchlist_events(writer: RecordingWriter, peer: FakePeer) -> list[Any]:
    return [
        payload(message)["events"]
        for message in writer.to(peer)
        if message["event"] == "pusher_internal:watchlist_events"
    ]


# -- the fakes themselves ----------------------------------------------------------------------


def test_recording_writer_applies_the_exclusion(writer: RecordingWriter) -> None:
    a, b, c = (FakePeer(Session(APP, f"9.{n}", 0.0)) for n in range(3))
    frame = b"\x81\x0f" + b'{"event":"hey"}'
    writer.broadcast(frame, [a, b, c], b)
    writer.send(c, frame)
    writer.close(a, 4009, "bye")
    assert writer.delivered == [(a, {"event": "hey"}), (c, {"event": "hey"}), (c, {"event": "hey"})]
    assert writer.broadcasts == [(frame, (a, b, c), b)]
    assert writer.closes == [(a, 4009, "bye")]
    assert (writer.events(b), writer.recipients("hey")) == ([], [a, c, c])


@pytest.mark.parametrize(
    "frame",
    [
        b"\x01\x02{}",  # not final
        b"\x82\x02{}",  # binary
        b"\x81\x82abcd{}",  # masked
        b"\x81\x03{}",  # short
        b"\x81\x7e\x00\x02{}",  # length not minimal
    ],
)
def test_decode_frame_refuses_what_a_server_must_not_send(frame: bytes) -> None:
    with pytest.raises(AssertionError):
        decode_frame(frame)


def test_decode_frame_lengths() -> None:
    for size in (0, 125, 126, 65535, 65536):
        text = "x" * size
        assert decode_frame(node_module.encode_text(text)) == text


# -- connecting --------------------------------------------------------------------------------


def test_connect_greets_and_registers(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    [message] = writer.to(peer)
    assert message["event"] == "pusher:connection_established"
    assert payload(message) == {"socket_id": peer.session.socket_id, "activity_timeout": 120}
    assert node.state(APP).sockets == {peer.session.socket_id: peer}
    assert (node.connections, node.state(APP).connections, node.state(APP2).connections) == (
        1,
        1,
        0,
    )


def test_over_quota(writer: RecordingWriter) -> None:
    limited = App("3", "key-3", "secret-3", max_connections=2)
    node = Node(AppRegistry([APP, limited]), writer)
    assert node.over_quota(limited) is False
    connect(node, limited)
    assert node.over_quota(limited) is False
    connect(node, limited)
    assert node.over_quota(limited) is True
    for _ in range(5):
        connect(node, APP)
    assert node.over_quota(APP) is False  # 0 = no limit


# -- subscriptions -----------------------------------------------------------------------------


def test_public_subscription(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    subscribe(node, peer, "leads")
    assert writer.to(peer)[1:] == [
        {"event": "pusher_internal:subscription_succeeded", "channel": "leads", "data": "{}"}
    ]
    assert list(node.state(APP).channels["leads"].subscribers) == [peer]
    assert node.state(APP).channels["leads"].members is None
    assert peer.session.channels == {"leads": None}


def test_failed_subscription_touches_no_state(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    send(node, peer, "pusher:subscribe", {"channel": "private-a", "auth": "key-1:bad"})
    assert writer.events(peer)[1:] == ["pusher:error", "pusher:subscription_error"]
    assert node.state(APP).channels == {}


def test_presence_members_are_deduplicated_by_user(node: Node, writer: RecordingWriter) -> None:
    p1, p2, p3 = connect(node, name="p1"), connect(node, name="p2"), connect(node, name="p3")
    subscribe(node, p1, "presence-room", user_id="u1", user_info={"name": "Ann"})
    assert presence_of(writer.to(p1)[-1]) == {
        "ids": ["u1"],
        "hash": {"u1": {"name": "Ann"}},
        "count": 1,
    }
    assert writer.recipients("pusher_internal:member_added") == []

    subscribe(node, p2, "presence-room", user_id="u2", user_info={"name": "Bob"})
    assert writer.recipients("pusher_internal:member_added") == [p1]
    [added] = [m for m in writer.to(p1) if m["event"] == "pusher_internal:member_added"]
    assert added["channel"] == "presence-room"
    assert payload(added) == {"user_id": "u2", "user_info": {"name": "Bob"}}
    assert presence_of(writer.to(p2)[-1]) == {
        "ids": ["u1", "u2"],
        "hash": {"u1": {"name": "Ann"}, "u2": {"name": "Bob"}},
        "count": 2,
    }

    writer.clear()
    subscribe(node, p3, "presence-room", user_id="u1", user_info={"name": "Ann"})
    assert writer.recipients("pusher_internal:member_added") == []
    assert presence_of(writer.to(p3)[-1])["count"] == 2
    assert presence_of(writer.to(p3)[-1])["ids"] == ["u1", "u2"]

    unsubscribe(node, p1, "presence-room")  # u1 is still there on p3
    assert writer.recipients("pusher_internal:member_removed") == []
    assert presence_users(node, APP, "presence-room") == ["u1", "u2"]

    node.disconnect(p3)  # u1's last connection
    assert writer.recipients("pusher_internal:member_removed") == [p2]
    [removed] = [m for m in writer.to(p2) if m["event"] == "pusher_internal:member_removed"]
    assert (removed["channel"], payload(removed)) == ("presence-room", {"user_id": "u1"})
    assert presence_users(node, APP, "presence-room") == ["u2"]

    unsubscribe(node, p2, "presence-room")
    assert writer.recipients("pusher_internal:member_removed") == [p2]  # nobody left to tell
    assert "presence-room" not in node.state(APP).channels


def test_duplicate_presence_subscription_changes_nothing(
    node: Node, writer: RecordingWriter
) -> None:
    p1, p2 = connect(node), connect(node)
    subscribe(node, p1, "presence-room", user_id="u1")
    subscribe(node, p2, "presence-room", user_id="u2")
    writer.clear()
    subscribe(node, p1, "presence-room", user_id="u1")
    assert writer.recipients("pusher_internal:member_added") == []
    assert presence_of(writer.to(p1)[-1])["count"] == 2
    assert list(node.state(APP).channels["presence-room"].subscribers) == [p1, p2]
    # One connection, counted once: leaving once removes the member.
    unsubscribe(node, p1, "presence-room")
    assert writer.recipients("pusher_internal:member_removed") == [p2]


def test_duplicate_public_subscription(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    subscribe(node, peer, "leads")
    subscribe(node, peer, "leads")
    assert writer.events(peer)[1:] == ["pusher_internal:subscription_succeeded"] * 2
    assert list(node.state(APP).channels["leads"].subscribers) == [peer]
    unsubscribe(node, peer, "leads")
    assert node.state(APP).channels == {}


def test_presence_member_limit(node: Node, writer: RecordingWriter) -> None:
    peers = [connect(node, name=f"p{n}") for n in range(5)]
    for index, peer in enumerate(peers[:3]):
        subscribe(node, peer, "presence-room", user_id=f"u{index}")
    writer.clear()
    subscribe(node, peers[3], "presence-room", user_id="u3")
    assert writer.to(peers[3]) == [
        {
            "event": "pusher:error",
            "data": json.dumps(
                {
                    "code": None,
                    "message": "Subscription to 'presence-room' refused: "
                    "presence channel is full (3 members)",
                },
                separators=(",", ":"),
            ),
        },
        {
            "event": "pusher:subscription_error",
            "channel": "presence-room",
            "data": json.dumps(
                {
                    "type": "AuthError",
                    "error": "presence channel is full (3 members)",
                    "status": 403,
                },
                separators=(",", ":"),
            ),
        },
    ]
    assert writer.recipients("pusher_internal:member_added") == []
    channel = node.state(APP).channels["presence-room"]
    assert peers[3] not in channel.subscribers
    assert peers[3].session.channels == {}
    assert presence_users(node, APP, "presence-room") == ["u0", "u1", "u2"]

    # A member already there may still open another connection.
    subscribe(node, peers[4], "presence-room", user_id="u1")
    assert writer.events(peers[4])[-1] == "pusher_internal:subscription_succeeded"
    # Once someone leaves there is room again.
    unsubscribe(node, peers[0], "presence-room")
    subscribe(node, peers[3], "presence-room", user_id="u3")
    assert presence_of(writer.to(peers[3])[-1])["ids"] == ["u1", "u2", "u3"]


def test_presence_limit_of_one_on_a_new_channel(writer: RecordingWriter) -> None:
    app = App("5", "key-5", "secret-5", max_presence_members=1)
    node = Node(AppRegistry([app]), writer)
    first, second = connect(node, app), connect(node, app)
    subscribe(node, first, "presence-r", user_id="a")
    subscribe(node, second, "presence-r", user_id="b")
    assert writer.events(first)[-1] == "pusher_internal:subscription_succeeded"
    assert writer.events(second)[-1] == "pusher:subscription_error"
    assert presence_users(node, app, "presence-r") == ["a"]


# -- cache channels ----------------------------------------------------------------------------

CACHE_MISS = {"event": "pusher:cache_miss", "channel": "cache-x"}


def test_cache_miss_hit_and_expiry(node: Node, writer: RecordingWriter) -> None:
    first = connect(node)
    subscribe(node, first, "cache-x", now=1.0)
    assert writer.to(first)[1:] == [
        {"event": "pusher_internal:subscription_succeeded", "channel": "cache-x", "data": "{}"},
        CACHE_MISS,
    ]
    node.publish(APP, ["cache-x"], "price", '{"v":1}', now=10.0)
    node.publish(APP, ["cache-x"], "price", '{"v":2}', now=11.0)
    latest = {"event": "price", "channel": "cache-x", "data": '{"v":2}'}
    assert writer.to(first)[-1] == latest

    second = connect(node)
    subscribe(node, second, "cache-x", now=70.9)
    assert writer.to(second)[1:] == [
        {"event": "pusher_internal:subscription_succeeded", "channel": "cache-x", "data": "{}"},
        latest,
    ]
    assert channel_info(node, APP, "cache-x", 70.9).cache == (
        json.dumps(latest, separators=(",", ":")),
        '{"v":2}',
        pytest.approx(0.1),
    )

    third = connect(node)
    subscribe(node, third, "cache-x", now=71.0)  # cache_ttl = 60 after the last publish
    assert writer.to(third)[-1] == CACHE_MISS
    assert "cache-x" not in cached_channels(node)


def test_cache_is_kept_while_the_channel_is_empty(node: Node, writer: RecordingWriter) -> None:
    node.publish(APP, ["private-cache-x"], "price", "1", now=0.0)
    assert "private-cache-x" not in node.state(APP).channels
    peer = connect(node)
    subscribe(node, peer, "private-cache-x", now=30.0)
    assert writer.to(peer)[-1] == {"event": "price", "channel": "private-cache-x", "data": "1"}


def test_presence_cache_channel_gets_snapshot_then_cache(
    node: Node, writer: RecordingWriter
) -> None:
    node.publish(APP, ["presence-cache-r"], "hello", "hi", now=0.0)
    peer = connect(node)
    subscribe(node, peer, "presence-cache-r", user_id="u1", now=1.0)
    assert writer.events(peer)[1:] == ["pusher_internal:subscription_succeeded", "hello"]
    assert presence_of(writer.to(peer)[1])["ids"] == ["u1"]


def test_client_events_are_not_cached(node: Node, writer: RecordingWriter) -> None:
    sender, other = connect(node), connect(node)
    subscribe(node, sender, "private-cache-x")
    client_event(node, sender, "private-cache-x", {"v": 1})
    assert cached_channels(node) == set()
    subscribe(node, other, "private-cache-x")
    assert writer.to(other)[-1] == {"event": "pusher:cache_miss", "channel": "private-cache-x"}


def test_publishing_to_a_non_cache_channel_caches_nothing(node: Node) -> None:
    node.publish(APP, ["leads", "private-x", "presence-x"], "e", "d", now=0.0)
    assert cached_channels(node) == set()


# -- publishing --------------------------------------------------------------------------------


def test_publish_encodes_once_and_excludes_the_socket(
    node: Node, writer: RecordingWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = [connect(node, name=f"p{n}") for n in range(4)]
    for peer in peers:
        subscribe(node, peer, "leads")
    writer.clear()
    calls = {"encode_event": 0, "encode_text": 0}
    real_event, real_text = node_module.encode_event, node_module.encode_text

    def count_event(*args: Any, **kwargs: Any) -> str:
        calls["encode_event"] += 1
        return real_event(*args, **kwargs)

    def count_text(text: str) -> bytes:
        calls["encode_text"] += 1
        return real_text(text)

    monkeypatch.setattr(node_module, "encode_event", count_event)
    monkeypatch.setattr(node_module, "encode_text", count_text)
    node.publish(
        APP, ["leads"], "new-lead", '{"id":7}', exclude_socket_id=peers[1].session.socket_id, now=0
    )
    assert calls == {"encode_event": 1, "encode_text": 1}
    [(frame, recipients, exclude)] = writer.broadcasts
    assert (recipients, exclude) == (tuple(peers), peers[1])
    assert writer.recipients("new-lead") == [peers[0], peers[2], peers[3]]
    assert all(sent is frame for _, sent in writer.frames)
    assert writer.to(peers[0]) == [{"event": "new-lead", "channel": "leads", "data": '{"id":7}'}]


@pytest.mark.parametrize("socket_id", [None, "", "999.999"])
def test_publish_without_a_known_socket_excludes_nobody(
    node: Node, writer: RecordingWriter, socket_id: str | None
) -> None:
    a, b = connect(node), connect(node)
    subscribe(node, a, "leads")
    subscribe(node, b, "leads")
    node.publish(APP, ["leads"], "e", "d", exclude_socket_id=socket_id, now=0.0)
    assert writer.recipients("e") == [a, b]


def test_publish_excludes_only_sockets_of_the_same_app(node: Node, writer: RecordingWriter) -> None:
    a = connect(node, APP)
    other_app_peer = connect(node, APP2)
    subscribe(node, a, "leads")
    exclude = other_app_peer.session.socket_id
    node.publish(APP, ["leads"], "e", "d", exclude_socket_id=exclude, now=0.0)
    assert writer.recipients("e") == [a]


def test_publish_to_several_channels(node: Node, writer: RecordingWriter) -> None:
    a, b, both = connect(node), connect(node), connect(node)
    subscribe(node, a, "one")
    subscribe(node, b, "two")
    subscribe(node, both, "one")
    subscribe(node, both, "two")
    writer.clear()
    node.publish(APP, ["one", "two", "nobody-here"], "e", "d", now=0.0)
    assert [(peer, m["channel"]) for peer, m in writer.delivered] == [
        (a, "one"),
        (both, "one"),
        (b, "two"),
        (both, "two"),
    ]
    assert len(writer.broadcasts) == 2  # none for the empty channel


def test_publish_to_an_unoccupied_channel(node: Node, writer: RecordingWriter) -> None:
    node.publish(APP, ["leads"], "e", "d", now=0.0)
    assert (writer.broadcasts, writer.delivered) == ([], [])
    assert node.state(APP).channels == {}


def test_server_to_user_reaches_every_connection_of_the_user(
    node: Node, writer: RecordingWriter
) -> None:
    a, b, other, anonymous = (connect(node, name=n) for n in ("a", "b", "other", "anon"))
    sign_in(node, a, "42")
    sign_in(node, b, "42")
    sign_in(node, other, "43")
    writer.clear()
    node.publish(APP, ["#server-to-user-42"], "note", '{"n":1}', now=0.0)
    assert writer.recipients("note") == [a, b]
    assert writer.to(a) == [{"event": "note", "channel": "#server-to-user-42", "data": '{"n":1}'}]
    node.publish(
        APP, ["#server-to-user-42"], "again", "x", exclude_socket_id=a.session.socket_id, now=0
    )
    assert writer.recipients("again") == [b]
    node.publish(APP, ["#server-to-user-44"], "nobody", "x", now=0.0)
    assert writer.recipients("nobody") == []
    assert node.state(APP).channels == {}
    assert writer.to(anonymous) == []


def test_user_channel_subscription_is_not_needed_for_delivery(
    node: Node, writer: RecordingWriter
) -> None:
    peer = connect(node)
    sign_in(node, peer, "42")
    subscribe(node, peer, "#server-to-user-42")
    writer.clear()
    node.publish(APP, ["#server-to-user-42"], "note", "x", now=0.0)
    assert writer.recipients("note") == [peer]  # once, not twice


# -- client events -----------------------------------------------------------------------------


def test_client_event_goes_to_the_others_only(node: Node, writer: RecordingWriter) -> None:
    sender, a, b, outsider = (connect(node, name=n) for n in ("sender", "a", "b", "outsider"))
    for peer in (sender, a, b):
        subscribe(node, peer, "private-chat")
    writer.clear()
    client_event(node, sender, "private-chat", {"typing": True})
    assert writer.recipients("client-typing") == [a, b]
    assert writer.to(a) == [
        {"event": "client-typing", "channel": "private-chat", "data": '{"typing":true}'}
    ]
    assert writer.to(outsider) == []
    [(_, recipients, exclude)] = writer.broadcasts
    assert exclude is sender
    assert set(recipients) == {sender, a, b}


def test_client_event_on_presence_carries_the_user_id(node: Node, writer: RecordingWriter) -> None:
    sender, other = connect(node), connect(node)
    subscribe(node, sender, "presence-room", user_id="u1")
    subscribe(node, other, "presence-room", user_id="u2")
    writer.clear()
    client_event(node, sender, "presence-room", "hi")
    assert writer.to(other) == [
        {"event": "client-typing", "channel": "presence-room", "data": "hi", "user_id": "u1"}
    ]


def test_client_event_rate_error_goes_to_the_sender_only(
    node: Node, writer: RecordingWriter
) -> None:
    sender, other = connect(node), connect(node)
    subscribe(node, sender, "private-chat")
    subscribe(node, other, "private-chat")
    writer.clear()
    for index in range(11):
        client_event(node, sender, "private-chat", index, now=0.5)
    assert len(writer.to(other)) == 10
    [error] = writer.to(sender)
    assert payload(error) == {
        "code": 4301,
        "message": "Client event rejected: over 10 per second",
    }
    assert writer.closes == []


def test_publish_effect_for_a_channel_that_is_gone(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    writer.clear()
    node.perform(peer, [Publish("private-gone", '{"event":"client-x"}')], 0.0)
    assert writer.broadcasts == []


def test_unsubscribe_effect_for_a_channel_not_joined(node: Node, writer: RecordingWriter) -> None:
    peer, other = connect(node), connect(node)
    subscribe(node, other, "presence-room", user_id="u1")
    writer.clear()
    node.perform(peer, [Unsubscribe("presence-room", Member("u1")), Unsubscribe("nope")], 0.0)
    assert writer.delivered == []
    assert presence_users(node, APP, "presence-room") == ["u1"]


def test_subscribe_effect_without_a_member_on_presence(node: Node, writer: RecordingWriter) -> None:
    # The node trusts the session; a presence Subscribe without member adds no member.
    peer = connect(node)
    node.perform(peer, [Subscribe("presence-room", None)], 0.0)
    assert presence_of(writer.to(peer)[-1]) == {"ids": [], "hash": {}, "count": 0}


# -- watchlists --------------------------------------------------------------------------------


def test_watchlist_online_and_offline(node: Node, writer: RecordingWriter) -> None:
    watcher = connect(node, name="watcher")
    sign_in(node, watcher, "w", watchlist=["bob", "carol"])
    assert writer.events(watcher)[1:] == ["pusher:signin_success"]  # nobody online yet

    bob1, bob2 = connect(node, name="bob1"), connect(node, name="bob2")
    sign_in(node, bob1, "bob")
    assert watchlist_events(writer, watcher) == [[{"name": "online", "user_ids": ["bob"]}]]
    sign_in(node, bob2, "bob")  # not bob's first connection
    assert len(watchlist_events(writer, watcher)) == 1

    late = connect(node, name="late")
    sign_in(node, late, "late", watchlist=["carol", "bob", "dave"])
    assert writer.events(late)[1:] == ["pusher:signin_success", "pusher_internal:watchlist_events"]
    assert watchlist_events(writer, late) == [[{"name": "online", "user_ids": ["bob"]}]]

    node.disconnect(bob1)
    assert len(watchlist_events(writer, watcher)) == 1  # bob is still on bob2
    node.disconnect(bob2)
    offline = [{"name": "offline", "user_ids": ["bob"]}]
    assert watchlist_events(writer, watcher)[-1] == offline
    assert watchlist_events(writer, late)[-1] == offline
    assert writer.recipients("pusher_internal:watchlist_events") == [
        watcher,
        late,
        watcher,
        late,
    ]


def test_watchlist_events_go_to_watchers_only(node: Node, writer: RecordingWriter) -> None:
    watcher, bystander = connect(node), connect(node)
    sign_in(node, watcher, "w", watchlist=["bob"])
    sign_in(node, bystander, "x", watchlist=["carol"])
    bob = connect(node)
    sign_in(node, bob, "bob")
    assert writer.recipients("pusher_internal:watchlist_events") == [watcher]


def test_watching_yourself(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    sign_in(node, peer, "me", watchlist=["me"])
    assert watchlist_events(writer, peer) == [[{"name": "online", "user_ids": ["me"]}]]


def test_watchlist_limit_keeps_the_first_ids(writer: RecordingWriter) -> None:
    app = App("6", "key-6", "secret-6", watchlist_limit=1)
    node = Node(AppRegistry([app]), writer)
    watcher, a, b = connect(node, app), connect(node, app), connect(node, app)
    sign_in(node, watcher, "w", watchlist=["a", "b"])
    assert [payload(m)["code"] for m in writer.to(watcher)[1:] if m["event"] == "pusher:error"] == [
        4302
    ]
    sign_in(node, a, "a")
    sign_in(node, b, "b")
    assert watchlist_events(writer, watcher) == [[{"name": "online", "user_ids": ["a"]}]]


def test_sign_in_registers_the_user(node: Node, writer: RecordingWriter) -> None:
    a, b = connect(node), connect(node)
    sign_in(node, a, "42", watchlist=["7"])
    sign_in(node, b, "42")
    state = node.state(APP)
    assert list(state.users["42"]) == [a, b]
    assert list(state.watchers["7"]) == [a]


def test_failed_sign_in_registers_nothing(node: Node, writer: RecordingWriter) -> None:
    peer = connect(node)
    bad = {"user_data": '{"id":"42"}', "auth": "key-1:0000"}
    send(node, peer, "pusher:signin", bad)
    assert payload(writer.to(peer)[-1])["code"] == 4009
    assert (node.state(APP).users, peer.session.user) == ({}, None)


# -- disconnecting -----------------------------------------------------------------------------


def test_disconnect_cleans_everything(node: Node, writer: RecordingWriter) -> None:
    peer, stayer = connect(node, name="peer"), connect(node, name="stayer")
    sign_in(node, peer, "42", watchlist=["7", "8"])
    for channel in ("leads", "private-a", "cache-x"):
        subscribe(node, peer, channel)
    subscribe(node, peer, "presence-room", user_id="42")
    subscribe(node, peer, "#server-to-user-42")
    subscribe(node, stayer, "leads")
    subscribe(node, stayer, "presence-room", user_id="9")
    writer.clear()

    node.disconnect(peer)
    state = node.state(APP)
    assert sorted(state.channels) == ["leads", "presence-room"]
    assert list(state.channels["leads"].subscribers) == [stayer]
    assert presence_users(node, APP, "presence-room") == ["9"]
    assert (state.users, state.watchers) == ({}, {})
    assert list(state.sockets.values()) == [stayer]
    assert peer.session.closed is True
    assert peer.session.channels == {}
    assert writer.recipients("pusher_internal:member_removed") == [stayer]
    assert writer.closes == []  # the transport is already gone

    writer.clear()
    node.disconnect(peer)  # a second time changes nothing
    assert writer.delivered == []
    node.disconnect(stayer)
    assert (state.channels, state.sockets, node.connections) == ({}, {}, 0)


def test_disconnect_of_an_unknown_peer_is_ignored(node: Node, writer: RecordingWriter) -> None:
    registered = connect(node)
    subscribe(node, registered, "leads")
    impostor = FakePeer(Session(APP, registered.session.socket_id, 0.0))
    node.disconnect(impostor)
    assert node.state(APP).sockets == {registered.session.socket_id: registered}
    assert list(node.state(APP).channels["leads"].subscribers) == [registered]


def test_disconnect_keeps_other_watchers(node: Node, writer: RecordingWriter) -> None:
    a, b = connect(node), connect(node)
    sign_in(node, a, "a", watchlist=["bob"])
    sign_in(node, b, "b", watchlist=["bob"])
    node.disconnect(a)
    assert list(node.state(APP).watchers["bob"]) == [b]
    bob = connect(node)
    sign_in(node, bob, "bob")
    assert writer.recipients("pusher_internal:watchlist_events") == [b]


def test_disconnect_of_a_user_with_another_connection(node: Node, writer: RecordingWriter) -> None:
    watcher, a, b = connect(node), connect(node), connect(node)
    sign_in(node, watcher, "w", watchlist=["42"])
    sign_in(node, a, "42")
    sign_in(node, b, "42")
    node.disconnect(a)
    assert list(node.state(APP).users["42"]) == [b]
    assert [e[0]["name"] for e in watchlist_events(writer, watcher)] == ["online"]


# -- terminating users -------------------------------------------------------------------------


def test_terminate_user_closes_their_connections_with_4009(
    node: Node, writer: RecordingWriter
) -> None:
    a, b, other = connect(node, name="a"), connect(node, name="b"), connect(node, name="other")
    twin = connect(node, APP2, name="twin")
    for peer in (a, b):
        sign_in(node, peer, "42")
    sign_in(node, other, "43")
    sign_in(node, twin, "42")
    assert node.terminate_user(APP, "42") == 2
    reason = "Connection terminated by the server"
    assert writer.closes == [(a, 4009, reason), (b, 4009, reason)]
    assert (a.session.closed, b.session.closed) == (True, True)
    assert (other.session.closed, twin.session.closed) == (False, False)
    writer.clear()
    node.receive(a, '{"event":"pusher:ping"}', 1.0)
    assert writer.delivered == []


def test_terminate_unknown_user(node: Node, writer: RecordingWriter) -> None:
    connect(node)
    assert node.terminate_user(APP, "nobody") == 0
    assert writer.closes == []


# -- keep-alive --------------------------------------------------------------------------------


def test_tick_pings_silent_connections_then_closes_them(
    node: Node, writer: RecordingWriter
) -> None:
    quiet, chatty = connect(node, now=0.0), connect(node, now=0.0)
    writer.clear()
    node.tick(119.0)
    assert writer.delivered == []
    node.receive(chatty, '{"event":"pusher:ping"}', 100.0)
    writer.clear()
    node.tick(120.0)
    assert writer.delivered == [(quiet, {"event": "pusher:ping", "data": "{}"})]
    node.tick(149.0)
    assert len(writer.delivered) == 1
    node.tick(150.0)
    assert writer.events(quiet) == ["pusher:ping", "pusher:error"]
    assert payload(writer.to(quiet)[-1])["code"] == 4201
    assert writer.closes == [(quiet, 4201, "Pong reply not received")]
    assert writer.to(chatty) == []


def test_tick_covers_every_app(node: Node, writer: RecordingWriter) -> None:
    a, b = connect(node, APP), connect(node, APP2)
    writer.clear()
    node.tick(1000.0)
    assert writer.recipients("pusher:ping") == [a, b]


# -- apps are isolated -------------------------------------------------------------------------


def test_apps_are_isolated(node: Node, writer: RecordingWriter) -> None:
    one, two = connect(node, APP, name="one"), connect(node, APP2, name="two")
    one_b, two_b = connect(node, APP, name="one_b"), connect(node, APP2, name="two_b")
    for peer in (one, two):
        subscribe(node, peer, "leads")
        subscribe(node, peer, "presence-room", user_id="u1")
        sign_in(node, peer, "42")
    writer.clear()

    subscribe(node, one_b, "presence-room", user_id="u2")
    assert writer.recipients("pusher_internal:member_added") == [one]
    subscribe(node, two_b, "private-chat")
    subscribe(node, two, "private-chat")
    writer.clear()

    node.publish(APP, ["leads", "#server-to-user-42"], "e", "d", now=0.0)
    assert writer.recipients("e") == [one, one]
    client_event(node, two_b, "private-chat", 1)
    assert writer.recipients("client-typing") == [two]

    assert presence_users(node, APP, "presence-room") == ["u1", "u2"]
    assert presence_users(node, APP2, "presence-room") == ["u1"]
    assert channel_info(node, APP2, "presence-room", 0.0) == ChannelSummary(True, 1, 1, None)
    assert sorted(occupied_channels(node, APP2, "", 0.0)) == [
        "leads",
        "presence-room",
        "private-chat",
    ]
    node.publish(APP2, ["cache-x"], "c", "d", now=0.0)
    assert channel_info(node, APP, "cache-x", 0.0).cache is None


# -- queries -----------------------------------------------------------------------------------


def test_channel_info(node: Node) -> None:
    a, b = connect(node), connect(node)
    subscribe(node, a, "presence-room", user_id="u1")
    subscribe(node, b, "presence-room", user_id="u1")
    subscribe(node, a, "leads")
    assert channel_info(node, APP, "presence-room", 0.0) == ChannelSummary(True, 2, 1, None)
    assert channel_info(node, APP, "leads", 0.0) == ChannelSummary(True, 1, None, None)
    assert channel_info(node, APP, "presence-empty", 0.0) == ChannelSummary(False, 0, 0, None)
    assert channel_info(node, APP, "empty", 0.0) == ChannelSummary(False, 0, None, None)


def test_channel_info_with_cache_and_expiry(node: Node) -> None:
    node.publish(APP, ["cache-x"], "e", "d", now=100.0)
    text = '{"event":"e","channel":"cache-x","data":"d"}'
    assert channel_info(node, APP, "cache-x", 159.0) == ChannelSummary(
        False, 0, None, (text, "d", 1.0)
    )
    assert channel_info(node, APP, "cache-x", 160.0) == ChannelSummary(False, 0, None, None)
    assert cached_channels(node) == set()


def test_occupied_channels_by_prefix(node: Node) -> None:
    peer = connect(node)
    for channel in ("leads", "presence-a", "presence-b", "private-x"):
        subscribe(node, peer, channel, user_id="u" if channel.startswith("presence-") else None)
    assert sorted(occupied_channels(node, APP, "", 0.0)) == [
        "leads",
        "presence-a",
        "presence-b",
        "private-x",
    ]
    assert occupied_channels(node, APP, "presence-", 0.0) == {
        "presence-a": ChannelSummary(True, 1, 1, None),
        "presence-b": ChannelSummary(True, 1, 1, None),
    }
    assert occupied_channels(node, APP, "nothing-", 0.0) == {}


def test_presence_users(node: Node) -> None:
    peer = connect(node)
    subscribe(node, peer, "presence-room", user_id="u1")
    subscribe(node, peer, "leads")
    assert presence_users(node, APP, "presence-room") == ["u1"]
    assert presence_users(node, APP, "leads") == []
    assert presence_users(node, APP, "presence-none") == []


def test_presence_data() -> None:
    assert presence_data({}) == {"ids": [], "hash": {}, "count": 0}
    members = {"a": {"n": 1}, "b": None}
    assert presence_data(members) == {
        "ids": ["a", "b"],
        "hash": {"a": {"n": 1}, "b": None},
        "count": 2,
    }
