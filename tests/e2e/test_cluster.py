"""Two ``leadcast realtime`` processes sharing one Redis act as one Pusher app.

Each server is started the way an operator starts it (``--redis-url``, a key prefix of its
own per test module, a short ``--redis-node-ttl``); clients are raw Pusher sockets, the
official Python SDK, and pusher-js with the Node SDK. Redis comes from
``tests/support/redis.py`` (``LEADCAST_TEST_REDIS_URL`` or a throwaway server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pusher
import pytest
import redis

from tests.e2e.nodejs import NODE_DIR, NODE_TIMEOUT, node_executable
from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.e2e.test_webhooks import Receiver, names
from tests.e2e.wsclient import Api, PusherSocket, eventually, unique
from tests.support.redis import (
    RedisUnavailable,
    delete_prefix,
    redis_server,
    unavailable,
    unique_prefix,
)

TTL = 3  # --redis-node-ttl: a killed server's members go within this (plus a heartbeat)
APP = DEFAULT_APP


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except RedisUnavailable as error:
        unavailable(str(error))


class Cluster:
    """Servers started on one Redis with one prefix; more can join with :meth:`start`."""

    def __init__(self, url: str, tmp: Path, stack: ExitStack, apps: list[Any] | None = None):
        self.url = url
        self.prefix = unique_prefix()
        self.tmp = tmp
        self.stack = stack
        self.apps = apps
        self.servers: list[RunningServer] = []

    def start(self, *, prefix: str | None = None, extra: list[str] | None = None) -> RunningServer:
        folder = self.tmp / f"node{len(self.servers)}"
        folder.mkdir()
        args = ["--redis-url", self.url, "--redis-prefix", prefix or self.prefix]
        args += ["--redis-node-ttl", str(TTL), "--webhook-delay", "1", *(extra or [])]
        server = self.stack.enter_context(realtime_server(folder, self.apps, extra_args=args))
        self.servers.append(server)
        return server


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ExitStack() as stack:
        made = Cluster(redis_url, tmp_path_factory.mktemp("cluster"), stack)
        made.start()
        made.start()
        yield made
    delete_prefix(redis_url, made.prefix)


def open_socket(server: RunningServer) -> PusherSocket:
    return PusherSocket.open(server.ws_url, APP["key"])


def sdk(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=APP["id"],
        key=APP["key"],
        secret=APP["secret"],
        host=server.host,
        port=server.port,
        ssl=False,
    )


# -- events --------------------------------------------------------------------------------------


def test_an_sdk_event_published_on_b_reaches_subscribers_on_both_once(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    channel = unique("leads")
    with open_socket(a) as on_a, open_socket(b) as on_b:
        on_a.subscribe(channel)
        on_b.subscribe(channel)
        sdk(b).trigger(channel, "lead.distributed", {"lead": {"id": 15, "city": "Zürich"}})
        for sock in (on_a, on_b):
            message = sock.expect("lead.distributed", channel)
            assert json.loads(message.data) == {"lead": {"id": 15, "city": "Zürich"}}
            sock.assert_silent()


def test_socket_id_exclusion_crosses_nodes(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    channel = unique("leads")
    with open_socket(a) as excluded, open_socket(a) as other, open_socket(b) as remote:
        for sock in (excluded, other, remote):
            sock.subscribe(channel)
        assert excluded.socket_id.split(".")[0] != remote.socket_id.split(".")[0]
        Api(b.host, b.port, APP).publish_ok(channel, "e", "1", socket_id=excluded.socket_id)
        other.expect("e", channel)
        remote.expect("e", channel)
        excluded.assert_silent()


def test_client_events_and_user_events_cross_nodes(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    channel = unique("private-chat")
    with open_socket(a) as sender, open_socket(b) as listener:
        sender.subscribe_private(APP, channel)
        listener.subscribe_private(APP, channel)
        sender.send_event("client-typing", {"who": "ann"}, channel)
        assert json.loads(listener.expect("client-typing", channel).data) == {"who": "ann"}
        sender.assert_silent()

        user = unique("user")
        listener.signin(APP, {"id": user})
        sdk(a).trigger(f"#server-to-user-{user}", "note", "hi")
        assert listener.expect("note").data == "hi"
        Api(a.host, a.port, APP).post(f"/users/{user}/terminate_connections", {})
        listener.expect_close(4009)


# -- presence and channel state -------------------------------------------------------------------


def test_presence_spans_nodes_and_members_are_added_once_per_user(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    channel = unique("presence-room")
    with open_socket(a) as ann_a, open_socket(b) as bob, open_socket(b) as ann_b:
        ann_a.subscribe_presence(APP, channel, "ann", {"n": "Ann"})
        joined = bob.subscribe_presence(APP, channel, "bob")
        assert joined.data["presence"]["hash"] == {"ann": {"n": "Ann"}, "bob": None}
        assert ann_a.expect("pusher_internal:member_added", channel).data["user_id"] == "bob"

        ann_b.subscribe_presence(APP, channel, "ann", {"n": "Ann"})  # ann's second connection
        Api(b.host, b.port, APP).publish_ok(channel, "marker", "1")
        ann_a.expect("marker", channel)  # nothing came before it: no second member_added
        bob.expect("marker", channel)

        for server in (a, b):
            api = Api(server.host, server.port, APP)
            assert api.channel(channel, "user_count,subscription_count") == {
                "occupied": True,
                "user_count": 2,
                "subscription_count": 3,
            }
            users = api.get(f"/channels/{channel}/users").json()["users"]
            assert sorted(u["id"] for u in users) == ["ann", "bob"]
            listed = api.get("/channels", {"filter_by_prefix": channel, "info": "user_count"})
            assert listed.json() == {"channels": {channel: {"user_count": 2}}}

        ann_a.close()  # ann is still on b
        ann_b.close()
        message = bob.expect("pusher_internal:member_removed", channel)
        assert message.data == {"user_id": "ann"}
    api = Api(a.host, a.port, APP)
    eventually(lambda: api.channel(channel) == {"occupied": False})


def test_pusher_js_clients_on_both_nodes(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    env = {
        **os.environ,
        "LEADCAST_HOST": a.host,
        "LEADCAST_PORT": str(a.port),
        "LEADCAST_PORT_B": str(b.port),
        "LEADCAST_APP_ID": str(APP["id"]),
        "LEADCAST_APP_KEY": str(APP["key"]),
        "LEADCAST_APP_SECRET": str(APP["secret"]),
    }
    done = subprocess.run(
        [node_executable(), "cluster.mjs"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    result = json.loads(lines[-1]) if lines else {}
    assert done.returncode == 0 and result.get("ok"), f"{done.stdout}\n{done.stderr[-3000:]}"
    assert result["received"] == [{"lead": {"id": 7}}, {"marker": True}]
    assert result["bob_members"] == ["ann", "bob"]
    assert result["bob_count"] == 2
    assert result["ann_count"] == 2
    assert result["member_events"] == [{"added": "bob", "info": {"node": "b"}}]


def test_another_prefix_on_the_same_redis_is_another_cluster(cluster: Cluster) -> None:
    a = cluster.servers[0]
    other_prefix = unique_prefix()
    stranger = cluster.start(prefix=other_prefix)
    channel = unique("leads")
    try:
        with open_socket(a) as mine, open_socket(stranger) as theirs:
            mine.subscribe(channel)
            theirs.subscribe(channel)
            Api(a.host, a.port, APP).publish_ok(channel, "mine", "1")
            Api(stranger.host, stranger.port, APP).publish_ok(channel, "theirs", "1")
            assert mine.recv().event == "mine"
            assert theirs.recv().event == "theirs"
            mine.assert_silent()
            theirs.assert_silent()
            assert Api(a.host, a.port, APP).channel(channel, "subscription_count") == {
                "occupied": True,
                "subscription_count": 1,
            }
    finally:
        delete_prefix(cluster.url, other_prefix)


# -- failures --------------------------------------------------------------------------------------


def test_a_killed_node_s_members_are_removed_within_the_ttl(redis_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        cluster = Cluster(redis_url, tmp_path, stack)
        a, doomed = cluster.start(), cluster.start()
        channel = unique("presence-room")
        with open_socket(a) as bob, open_socket(doomed) as ann:
            bob.subscribe_presence(APP, channel, "bob")
            ann.subscribe_presence(APP, channel, "ann")
            bob.expect("pusher_internal:member_added", channel)
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait(timeout=10)
            removed = bob.expect("pusher_internal:member_removed", channel, timeout=TTL + 10)
            assert removed.data == {"user_id": "ann"}
            api = Api(a.host, a.port, APP)
            users = api.get(f"/channels/{channel}/users").json()["users"]
            assert users == [{"id": "bob"}]
            assert api.channel(channel, "subscription_count")["subscription_count"] == 1
        assert any("stopped beating" in line for line in a.output)
    delete_prefix(redis_url, cluster.prefix)


def test_the_subscriber_reconnects_after_redis_drops_it(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    client = redis.Redis.from_url(cluster.url)
    try:
        ours = [
            entry["id"]
            for entry in client.client_list(_type="pubsub")
            if entry.get("name") == f"leadcast:{cluster.prefix}"
        ]
        assert len(ours) == 2
        for client_id in ours:
            client.client_kill_filter(_id=client_id)
    finally:
        client.close()
    eventually(
        lambda: all(any("subscriber reconnected" in line for line in s.output) for s in (a, b)),
        timeout=15,
    )
    channel = unique("leads")
    with open_socket(a) as on_a:
        on_a.subscribe(channel)
        Api(b.host, b.port, APP).publish_ok(channel, "after", "1")
        on_a.expect("after", channel)
    assert any("lost its connection" in line for line in a.output)


def test_webhooks_are_sent_once_for_the_cluster(redis_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    apps = [{**APP, "webhooks": [{"url": receiver.url("/hooks")}]}]
    try:
        with ExitStack() as stack:
            cluster = Cluster(redis_url, tmp_path, stack, apps)
            a, b = cluster.start(), cluster.start()
            channel = unique("presence-room")
            with open_socket(a) as ann_a, open_socket(b) as ann_b:
                ann_a.subscribe_presence(APP, channel, "ann")
                ann_b.subscribe_presence(APP, channel, "ann")
                ann_a.close()
            events = receiver.wait_for(
                "/hooks", channel, lambda found: "channel_vacated" in names(found)
            )
            assert names(events) == [
                "channel_occupied",
                "member_added",
                "member_removed",
                "channel_vacated",
            ]
        delete_prefix(redis_url, cluster.prefix)
    finally:
        receiver.close()


def test_an_unreachable_redis_stops_the_server_at_start(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")},
        "PUSHER_APP_ID": "1",
        "PUSHER_APP_KEY": "k",
        "PUSHER_APP_SECRET": "s",
    }
    done = subprocess.run(
        [sys.executable, "-m", "leadcast", "realtime", "--redis-url", "redis://127.0.0.1:1/0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "leadcast realtime: error: cannot use Redis at redis://127.0.0.1:1/0" in done.stderr
