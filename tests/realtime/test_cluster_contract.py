"""One contract for the cluster ports, run on the memory and the Redis backends.

Each test makes nodes over one backend (:mod:`tests.realtime.cluster_harness`) and checks
what the :class:`ClusterState` answers and reports, and what the :class:`Broker` carries.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadcast.protocol.apps import App, Webhook
from leadcast.protocol.session import Member
from leadcast.realtime.ports import (
    ChannelSummary,
    Delivery,
    DeliveryKind,
    Joined,
    SignedIn,
    Transition,
)
from tests.realtime.cluster_harness import Harness, TestNode
from tests.support.redis import RedisUnavailable, delete_prefix, unavailable, unique_prefix

APP = App("1", "key-1", "secret-1", max_presence_members=2, cache_ttl=60)
HOOKED = App("2", "key-2", "secret-2", webhooks=(Webhook("http://127.0.0.1:9/hook"),))
OTHER = App("3", "key-3", "secret-3")
APPS = [APP, HOOKED, OTHER]


@pytest.fixture(params=["memory", "redis"])
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        made = Harness("memory", APPS)
        yield made
        return
    url = request.getfixturevalue("redis_url")
    if isinstance(url, RedisUnavailable):
        unavailable(str(url))
    prefix = unique_prefix()
    made = Harness("redis", APPS, url=url, prefix=prefix)
    try:
        yield made
    finally:
        made.close()
        delete_prefix(url, prefix)


def join(
    h: Harness,
    node: TestNode,
    channel: str,
    user: str | None = None,
    app: App = APP,
    info: object = None,
) -> Joined:
    member = Member(user, info) if user is not None else None
    joined = h.call(node.state.join, app, channel, member, 0.0)
    assert isinstance(joined, Joined)
    return joined


def leave(
    h: Harness, node: TestNode, channel: str, user: str | None = None, app: App = APP
) -> tuple[Transition, ...]:
    member = Member(user) if user is not None else None
    left = h.call(node.state.leave, app, channel, member)
    assert isinstance(left, tuple)
    return left


def kinds(transitions: tuple[Transition, ...] | list[Transition]) -> list[tuple[str, str]]:
    return [(t.kind, t.user_id or t.channel) for t in transitions]


def info(h: Harness, node: TestNode, channel: str, app: App = APP) -> ChannelSummary:
    return h.run(node.state.channel(app, channel, 0.0))


# -- occupancy ---------------------------------------------------------------------------------


def test_occupied_once_for_the_cluster_and_counted_over_every_node(h: Harness) -> None:
    a, b = h.node(), h.node()
    assert kinds(join(h, a, "leads").transitions) == [("occupied", "leads")]
    assert join(h, a, "leads").transitions == ()
    assert join(h, b, "leads").transitions == ()
    assert info(h, b, "leads") == ChannelSummary(True, 3, None)
    assert info(h, a, "empty") == ChannelSummary(False, 0, None)

    assert leave(h, a, "leads") == ()
    assert leave(h, a, "leads") == ()  # a has none left; b still has one
    assert info(h, a, "leads") == ChannelSummary(True, 1, None)
    assert kinds(leave(h, b, "leads")) == [("vacated", "leads")]
    assert info(h, a, "leads") == ChannelSummary(False, 0, None)
    assert h.run(a.state.channels(APP, "", 0.0)) == {}


def test_leaving_what_was_never_joined_changes_nothing(h: Harness) -> None:
    a, b = h.node(), h.node()
    join(h, a, "leads")
    assert leave(h, b, "leads") == ()
    assert leave(h, b, "presence-x", "u1") == ()
    assert info(h, a, "leads") == ChannelSummary(True, 1, None)
    assert join(h, b, "leads").transitions == ()  # not counted below zero: b's join counts
    assert info(h, a, "leads") == ChannelSummary(True, 2, None)


def test_apps_are_counted_apart(h: Harness) -> None:
    a = h.node()
    join(h, a, "leads", app=APP)
    assert kinds(join(h, a, "leads", app=OTHER).transitions) == [("occupied", "leads")]
    assert info(h, a, "leads", OTHER) == ChannelSummary(True, 1, None)
    leave(h, a, "leads", app=OTHER)
    assert info(h, a, "leads", APP) == ChannelSummary(True, 1, None)


def test_channels_by_prefix(h: Harness) -> None:
    a, b = h.node(), h.node()
    join(h, a, "leads")
    join(h, b, "presence-room", "u1")
    join(h, a, "presence-room", "u2")
    join(h, b, "private-x")
    assert h.run(a.state.channels(APP, "", 0.0)) == {
        "leads": ChannelSummary(True, 1, None),
        "presence-room": ChannelSummary(True, 2, 2),
        "private-x": ChannelSummary(True, 1, None),
    }
    assert h.run(b.state.channels(APP, "presence-", 0.0)) == {
        "presence-room": ChannelSummary(True, 2, 2)
    }
    assert h.run(b.state.channels(OTHER, "", 0.0)) == {}


# -- presence ----------------------------------------------------------------------------------


def test_member_added_and_removed_once_per_user_over_every_node(h: Harness) -> None:
    a, b = h.node(), h.node()
    first = join(h, a, "presence-room", "u1", info={"name": "Ann"})
    assert kinds(first.transitions) == [("occupied", "presence-room"), ("added", "u1")]
    assert first.transitions[1].user_info == {"name": "Ann"}
    assert first.members == {"u1": {"name": "Ann"}}

    again = join(h, b, "presence-room", "u1", info={"name": "Ann"})  # same user, other node
    assert again.transitions == ()
    other = join(h, b, "presence-room", "u2", info=[1, "two"])
    assert kinds(other.transitions) == [("added", "u2")]
    assert other.members == {"u1": {"name": "Ann"}, "u2": [1, "two"]}
    assert info(h, a, "presence-room") == ChannelSummary(True, 3, 2)
    assert sorted(h.run(a.state.users(APP, "presence-room"))) == ["u1", "u2"]
    assert h.call(a.state.members, APP, "presence-room") == other.members

    assert leave(h, a, "presence-room", "u1") == ()  # u1 is still on b
    assert kinds(leave(h, b, "presence-room", "u1")) == [("removed", "u1")]
    assert kinds(leave(h, b, "presence-room", "u2")) == [
        ("removed", "u2"),
        ("vacated", "presence-room"),
    ]
    assert info(h, a, "presence-room") == ChannelSummary(False, 0, 0)
    assert h.run(a.state.users(APP, "presence-room")) == []


def test_a_full_presence_channel_refuses_new_users_and_counts_nothing(h: Harness) -> None:
    a, b = h.node(), h.node()
    join(h, a, "presence-room", "u1")
    join(h, b, "presence-room", "u2")
    assert join(h, a, "presence-room", "u3") == Joined(full=True)
    assert info(h, b, "presence-room") == ChannelSummary(True, 2, 2)
    assert sorted(h.run(b.state.users(APP, "presence-room"))) == ["u1", "u2"]
    assert join(h, a, "presence-room", "u2").transitions == ()  # a member may add a connection
    leave(h, a, "presence-room", "u1")
    assert kinds(join(h, b, "presence-room", "u3").transitions) == [("added", "u3")]


# -- users -------------------------------------------------------------------------------------


def test_users_online_on_their_first_connection_and_offline_after_the_last(h: Harness) -> None:
    a, b = h.node(), h.node()
    signed = h.call(a.state.sign_in, APP, "ann", ("bob", "cat"))
    assert signed == SignedIn((Transition("online", APP.id, "", "ann"),), ())
    assert h.call(b.state.sign_in, APP, "ann", ()) == SignedIn((), ())
    watching = h.call(b.state.sign_in, APP, "bob", ("ann", "cat", "dan"))
    assert watching.online == ("ann",)
    assert h.call(a.state.sign_in, OTHER, "cat", ("ann",)).online == ()

    assert h.call(a.state.sign_out, APP, "ann") == ()
    assert h.call(a.state.sign_out, APP, "ann") == ()  # a has none left
    assert kinds(h.call(b.state.sign_out, APP, "ann")) == [("offline", "ann")]
    assert h.call(b.state.sign_out, APP, "nobody") == ()


# -- cache -------------------------------------------------------------------------------------


def test_cache_channels_keep_the_last_event_for_every_node(h: Harness) -> None:
    a, b = h.node(), h.node()
    assert join(h, a, "cache-x").cached is None
    text = '{"event":"e","channel":"cache-x","data":"d2"}'
    a.state.cache(APP, "cache-x", text.replace("d2", "d1"), "d1", 0.0)
    a.state.cache(APP, "cache-x", text, "d2", 0.0)
    assert join(h, b, "cache-x").cached == text
    found = info(h, b, "cache-x")
    assert found.cache is not None
    assert found.cache[:2] == (text, "d2")
    assert 59 <= found.cache[2] <= 60
    assert join(h, b, "leads").cached is None
    assert info(h, b, "cache-y").cache is None


# -- nodes that stop ----------------------------------------------------------------------------


def test_a_stopped_nodes_entries_go_and_one_survivor_reports_it(h: Harness) -> None:
    a, b, c = h.node(), h.node(), h.node()
    join(h, a, "presence-room", "u1")
    join(h, a, "presence-room", "u2")
    join(h, b, "presence-room", "u2")
    join(h, a, "leads")
    join(h, a, "private-both")
    join(h, b, "private-both")
    h.call(a.state.sign_in, APP, "ann", ())
    h.call(a.state.sign_in, APP, "bob", ())
    h.call(b.state.sign_in, APP, "bob", ())

    h.kill(a, reporter=b)
    assert sorted(kinds(b.recorder.transitions)) == [
        ("offline", "ann"),
        ("removed", "u1"),
        ("vacated", "leads"),
    ]
    assert c.recorder.transitions == []
    assert info(h, b, "presence-room") == ChannelSummary(True, 1, 1)
    assert info(h, b, "private-both") == ChannelSummary(True, 1, None)
    assert info(h, b, "leads") == ChannelSummary(False, 0, None)
    assert h.call(c.state.sign_in, APP, "x", ("ann", "bob")).online == ("bob",)


# -- webhook hold markers -----------------------------------------------------------------------


def test_a_quick_return_names_the_node_that_holds_the_webhook(h: Harness) -> None:
    a, b = h.node(), h.node()
    join(h, a, "presence-room", "u1", app=HOOKED)
    leave(h, a, "presence-room", "u1", app=HOOKED)  # a holds vacated and removed
    back = join(h, b, "presence-room", "u1", app=HOOKED)
    assert [(t.kind, t.holder) for t in back.transitions] == [
        ("occupied", a.node_id),
        ("added", a.node_id),
    ]
    leave(h, b, "presence-room", "u1", app=HOOKED)
    again = join(h, b, "presence-room", "u1", app=HOOKED)
    assert [t.holder for t in again.transitions] == [b.node_id, b.node_id]


def test_apps_without_webhooks_hold_nothing(h: Harness) -> None:
    a, b = h.node(), h.node()
    join(h, a, "leads")
    leave(h, a, "leads")
    assert [t.holder for t in join(h, b, "leads").transitions] == [None]


# -- the broker --------------------------------------------------------------------------------


def test_a_delivery_reaches_every_other_node_once(h: Harness) -> None:
    a, b, c = h.node(), h.node(), h.node()
    sent = Delivery(DeliveryKind.CHANNEL, APP.id, "leads", '{"event":"e"}', "123.4")
    a.broker.publish(sent)
    user = Delivery(DeliveryKind.USER, OTHER.id, "ann", "x", None, None, None)
    hook = Delivery(DeliveryKind.HOOK, HOOKED.id, "presence-r", "member_added", None, "ü\n1", "7")
    b.broker.publish(user)
    b.broker.publish(hook)
    h.wait_for(lambda: len(b.recorder.deliveries) == 1 and len(c.recorder.deliveries) == 3)
    h.settle()
    assert b.recorder.deliveries == [sent]
    # One node's deliveries keep their order; two nodes' have none between them.
    assert sorted(c.recorder.deliveries, key=[sent, user, hook].index) == [sent, user, hook]
    assert [d for d in c.recorder.deliveries if d != sent] == [user, hook]
    assert a.recorder.deliveries == [user, hook]
