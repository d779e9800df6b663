"""What only the Redis backend does: options, rebuilding a node's entries, outages and a
listener that must notice a connection that went quiet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
import redis

from leadcast.protocol.apps import App
from leadcast.protocol.errors import ConfigError
from leadcast.protocol.session import Member
from leadcast.realtime.ports import (
    ClusterUnavailable,
    Delivery,
    DeliveryKind,
    Holding,
    Transition,
)
from leadcast.realtime.redis_backend import RedisBroker, RedisLink, RedisOptions, redacted
from leadcast.realtime.redis_state import RedisClusterState, net_transitions, transitions_from
from tests.realtime.cluster_harness import Harness
from tests.support.redis import (
    RedisUnavailable,
    delete_prefix,
    throwaway_redis,
    unavailable,
    unique_prefix,
)

APP = App("1", "key-1", "secret-1")


# -- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (RedisOptions("http://localhost"), "--redis-url must start with redis://"),
        (RedisOptions("redis://x", prefix=""), "--redis-prefix must be a non-empty word"),
        (RedisOptions("redis://x", prefix="a b"), "--redis-prefix must be a non-empty word"),
        (RedisOptions("redis://x", node_ttl=0.5), "--redis-node-ttl must be 1-3600 seconds"),
    ],
)
def test_options_are_checked(options: RedisOptions, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        options.check()


def test_urls_are_logged_without_their_password() -> None:
    assert redacted("redis://:s3cret@db.internal:6379/2") == "redis://db.internal:6379/2"
    assert redacted("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379"


def test_transitions_from_a_script_answer() -> None:
    flat = ["added", "1", "presence-r", "ann", "", '{"n":1}', "12"]
    flat += ["vacated", "1", "x", "", "", "", ""]
    assert transitions_from(flat) == (
        Transition("added", "1", "presence-r", "ann", None, {"n": 1}, 12),
        Transition("vacated", "1", "x"),
    )


def test_opposite_transitions_cancel_out() -> None:
    gone, back = Transition("vacated", "1", "x"), Transition("occupied", "1", "x")
    removed, added = Transition("removed", "1", "p", "ann"), Transition("added", "1", "p", "ann")
    other = Transition("added", "1", "p", "bob")
    assert net_transitions([gone, removed, back, other, added]) == [other]
    assert net_transitions([gone, Transition("occupied", "2", "x")]) == [
        gone,
        Transition("occupied", "2", "x"),
    ]


# -- against a server ------------------------------------------------------------------------------


@pytest.fixture
def h(redis_url: str | RedisUnavailable) -> Iterator[Harness]:
    if isinstance(redis_url, RedisUnavailable):
        unavailable(str(redis_url))
    assert isinstance(redis_url, str)
    prefix = unique_prefix()
    made = Harness("redis", [APP], url=redis_url, prefix=prefix)
    try:
        yield made
    finally:
        made.close()
        delete_prefix(redis_url, prefix)


def test_member_changes_are_counted_and_a_join_says_which_its_list_includes(h: Harness) -> None:
    a, b = h.node(), h.node()
    ann = h.call(a.state.join, APP, "presence-r", Member("ann", {"n": 1}), 0.0)
    [added_ann] = [t for t in ann.transitions if t.kind == "added"]
    bob = h.call(b.state.join, APP, "presence-r", Member("bob", None), 0.0)
    [added_bob] = [t for t in bob.transitions if t.kind == "added"]
    assert 0 < added_ann.version < added_bob.version == bob.version
    assert set(bob.members) == {"ann", "bob"}  # ann's change is in bob's list: not news to him
    again = h.call(b.state.join, APP, "presence-r", Member("ann", {"n": 1}), 0.0)
    assert again.transitions == () and again.version == bob.version  # no change, no count
    left = h.call(a.state.leave, APP, "presence-r", Member("ann", None))
    assert left == ()  # ann is still on b
    left = h.call(b.state.leave, APP, "presence-r", Member("ann", None))
    assert [(t.kind, t.user_id, t.version) for t in left] == [("removed", "ann", bob.version + 1)]
    plain = h.call(a.state.join, APP, "leads", None, 0.0)
    assert plain.version == 0  # only presence lists are counted


def test_a_node_whose_entries_were_lost_rebuilds_them(h: Harness) -> None:
    a, b = h.node(), h.node()
    h.call(a.state.join, APP, "presence-r", Member("ann", {"n": 1}), 0.0)
    h.call(a.state.sign_in, APP, "ann", ())
    a.recorder.held = Holding(
        {("1", "presence-r"): 1, ("1", "leads"): 2},
        {("1", "presence-r", "ann"): ({"n": 1}, 1)},
        {("1", "ann"): 1},
    )
    delete_prefix(h.url, h.prefix)  # Redis restarted empty
    assert isinstance(a.state, RedisClusterState)
    h.run(a.state.beat())
    h.wait_for(lambda: len(a.recorder.transitions) == 4)
    assert sorted((t.kind, t.channel, t.user_id) for t in a.recorder.transitions) == [
        ("added", "presence-r", "ann"),
        ("occupied", "leads", None),
        ("occupied", "presence-r", None),
        ("online", "", "ann"),
    ]
    assert h.run(b.state.channel(APP, "leads", 0.0)).subscription_count == 2
    assert h.run(b.state.users(APP, "presence-r")) == ["ann"]
    assert h.call(b.state.sign_in, APP, "x", ("ann",)).online == ("ann",)


def test_a_rebuild_reports_only_what_changed(h: Harness) -> None:
    a = h.node()
    h.call(a.state.join, APP, "kept", None, 0.0)
    h.call(a.state.join, APP, "dropped", None, 0.0)
    a.recorder.held = Holding({("1", "kept"): 1, ("1", "new"): 1}, {}, {})
    assert isinstance(a.state, RedisClusterState)
    a.state.link.dirty = True  # a command may have been lost
    h.run(a.state.beat())
    h.wait_for(lambda: len(a.recorder.transitions) == 2)
    assert sorted((t.kind, t.channel) for t in a.recorder.transitions) == [
        ("occupied", "new"),
        ("vacated", "dropped"),
    ]
    assert a.state.link.dirty is False


def test_while_redis_is_down_calls_fail_at_once_and_it_is_used_again_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.new_event_loop()
    try:
        with throwaway_redis() as url:
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            link = RedisLink(RedisOptions(url, unique_prefix(), node_ttl=3))
            loop.run_until_complete(link.open())
            state = RedisClusterState(link)
            holder = _Holder(Holding({("1", "leads"): 1}, {}, {}))
            state.attach(holder)
        # the server is gone
        answers: list[object] = []
        with caplog.at_level(logging.WARNING, "leadcast.realtime.redis"):
            state.join(APP, "leads", None, 0.0, answers.append)
            loop.run_until_complete(_until(lambda: bool(answers)))
            state.join(APP, "leads", None, 0.0, answers.append)  # fails without trying
        assert answers == [None, None]
        assert link.available is False and link.dirty is True
        assert "Redis unreachable" in caplog.text
        with pytest.raises(ClusterUnavailable):
            loop.run_until_complete(state.beat())
        with throwaway_redis(port):
            loop.run_until_complete(state.beat())
            loop.run_until_complete(_until(lambda: bool(holder.transitions)))
            assert link.available is True
            assert [t.kind for t in holder.transitions] == ["occupied"]
            summary = loop.run_until_complete(state.channel(APP, "leads", 0.0))
            assert summary.subscription_count == 1
            loop.run_until_complete(link.close())
    except RedisUnavailable as error:
        unavailable(str(error))
    finally:
        loop.close()


def test_a_listener_that_hears_nothing_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    try:
        with throwaway_redis() as url:
            h = Harness("redis", [APP], url=url, prefix=unique_prefix())
            try:
                _quiet_listener(h, caplog, url)
            finally:
                h.close()
    except RedisUnavailable as error:
        unavailable(str(error))


def _quiet_listener(h: Harness, caplog: pytest.LogCaptureFixture, url: str) -> None:
    a, b = h.node(quiet=0.2, dead=2.0), h.node()
    assert isinstance(a.broker, RedisBroker)
    h.settle(2.0)  # quiet, but answering its pings: the listener stays
    assert a.broker.reconnects == 0
    pauser = redis.Redis.from_url(url)
    try:
        with caplog.at_level(logging.WARNING, "leadcast.realtime.redis"):
            pauser.execute_command("CLIENT", "PAUSE", 3500)  # Redis goes silent
            h.wait_for(lambda: a.broker.reconnects >= 1, timeout=15)
    finally:
        pauser.close()
    assert "no answer from Redis for 2 s" in caplog.text
    sent = Delivery(DeliveryKind.CHANNEL, APP.id, "leads", "after")
    b.broker.publish(sent)
    h.wait_for(lambda: a.recorder.deliveries == [sent])


class _Holder:
    def __init__(self, held: Holding) -> None:
        self.held = held
        self.transitions: list[Transition] = []

    def on_transitions(self, transitions: object) -> None:
        assert isinstance(transitions, list | tuple)
        self.transitions.extend(transitions)

    def holding(self) -> Holding:
        return self.held


async def _until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_node_id_held_by_a_live_node_is_not_taken_twice(h: Harness) -> None:
    first = h.node()
    options = RedisOptions(h.url, h.prefix, node_ttl=5)
    second = RedisLink(options, node_id=first.node_id)
    h.run(second.open())
    try:
        assert second.node_id != first.node_id
        assert len(second.node_id) == 9 and second.node_id.isdigit()
    finally:
        h.run(second.close())
