"""The WebSocket side of ``leadcast realtime``, driven with a raw client (docs/realtime.md).

Most tests share the module's two-app ``server``; the ones that need other app limits share one
``limits_server`` process holding one app per limit.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import DEFAULT_APP, OTHER_APP, RunningServer, realtime_server
from tests.e2e.wsclient import (
    PROTOCOL_QUERY,
    Api,
    ClosedError,
    Message,
    PusherSocket,
    RawWebSocket,
    channel_auth,
    eventually,
    unique,
    user_auth,
)
from tests.support.client_messages import presence_data

IDLE_APP = {
    "id": "3001",
    "key": "idle-key",
    "secret": "idle-secret",
    "activity_timeout": 1,
    "pong_timeout": 1,
}
DISABLED_APP = {"id": "3002", "key": "disabled-key", "secret": "disabled-secret", "enabled": False}
MAXCONN_APP = {"id": "3003", "key": "maxconn-key", "secret": "maxconn-secret", "max_connections": 2}
NOCLIENT_APP = {
    "id": "3004",
    "key": "noclient-key",
    "secret": "noclient-secret",
    "client_events": False,
}
PRESENCE3_APP = {
    "id": "3005",
    "key": "presence3-key",
    "secret": "presence3-secret",
    "max_presence_members": 3,
}
WATCH2_APP = {"id": "3006", "key": "watch2-key", "secret": "watch2-secret", "watchlist_limit": 2}
LIMIT_APPS = [IDLE_APP, DISABLED_APP, MAXCONN_APP, NOCLIENT_APP, PRESENCE3_APP, WATCH2_APP]

SOCKET_ID = re.compile(r"^\d+\.\d+$")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path: Path = tmp_path_factory.mktemp("limits")
    with realtime_server(path, LIMIT_APPS) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Api:
    return Api(server.host, server.port, DEFAULT_APP)


class Sockets:
    """Opens sockets against one server and closes them all after the test."""

    def __init__(self, server: RunningServer):
        self.server = server
        self.opened: list[PusherSocket] = []

    def __call__(
        self,
        key: str = DEFAULT_APP["key"],
        *,
        query: str | None = PROTOCOL_QUERY,
        expect_established: bool = True,
    ) -> PusherSocket:
        sock = PusherSocket.open(
            self.server.ws_url, key, query=query, expect_established=expect_established
        )
        self.opened.append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self.opened:
            sock.close()


@pytest.fixture
def ws(server: RunningServer) -> Iterator[Sockets]:
    sockets = Sockets(server)
    yield sockets
    sockets.close_all()


@pytest.fixture
def lws(limits_server: RunningServer) -> Iterator[Sockets]:
    sockets = Sockets(limits_server)
    yield sockets
    sockets.close_all()


def listed(api: Api, channel: str) -> bool:
    """Whether ``channel`` appears among the app's occupied channels (works for any name)."""
    response = api.get("/channels")
    assert response.status == 200, response
    return channel in response.json()["channels"]


def assert_not_occupied(api: Api, channel: str) -> None:
    assert not listed(api, channel), f"{channel!r} is occupied after a rejected subscription"


# --------------------------------------------------------------------------- connecting


def test_connection_established_shape(ws: Sockets) -> None:
    first, second = ws(), ws()
    for sock in (first, second):
        assert sock.established is not None
        raw = sock.established.raw
        assert set(raw) <= {"event", "data"}, raw
        assert isinstance(raw["data"], str), "data must be a JSON-encoded string"
        data = sock.established.data
        assert set(data) == {"socket_id", "activity_timeout"}, data
        assert SOCKET_ID.match(data["socket_id"]), data
        assert data["activity_timeout"] == 120  # the default for an app without the setting
    assert first.socket_id != second.socket_id


def test_socket_ids_have_one_process_prefix_and_are_unique(ws: Sockets) -> None:
    ids = []
    for _ in range(5):
        sock = ws()
        ids.append(sock.socket_id)
        sock.close()
    assert len(set(ids)) == len(ids)
    prefixes = {socket_id.split(".")[0] for socket_id in ids}
    assert len(prefixes) == 1, ids
    assert re.fullmatch(r"\d{9}", prefixes.pop()), ids


def test_activity_timeout_comes_from_the_app(lws: Sockets) -> None:
    sock = lws(IDLE_APP["key"])
    assert sock.established is not None
    assert sock.established.data["activity_timeout"] == 1


@pytest.mark.parametrize("protocol", ["5", "6", "7"])
def test_supported_protocol_versions(ws: Sockets, protocol: str) -> None:
    ws(query=f"protocol={protocol}&client=js&version=8.4.0").assert_alive()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (None, 4008),
        ("client=js&version=8.4.0", 4008),
        ("protocol=abc&client=js", 4006),
        ("protocol=7.1", 4006),
        ("protocol=", 4006),
        ("protocol=3", 4007),
        ("protocol=4", 4007),
        ("protocol=8", 4007),
    ],
)
def test_bad_protocol_is_refused(ws: Sockets, query: str | None, code: int) -> None:
    sock = ws(query=query, expect_established=False)
    error = sock.expect_error(code)
    assert error.event == "pusher:error"
    assert sock.expect_close(code) == []


def test_unknown_key_is_refused_with_4001(ws: Sockets) -> None:
    sock = ws("no-such-key", expect_established=False)
    sock.expect_error(4001)
    assert sock.expect_close(4001) == []


def test_disabled_app_is_refused_with_4003(lws: Sockets) -> None:
    sock = lws(DISABLED_APP["key"], expect_established=False)
    sock.expect_error(4003)
    assert sock.expect_close(4003) == []


def test_max_connections(lws: Sockets, limits_server: RunningServer) -> None:
    first, _second = lws(MAXCONN_APP["key"]), lws(MAXCONN_APP["key"])
    third = lws(MAXCONN_APP["key"], expect_established=False)
    third.expect_error(4004)
    assert third.expect_close(4004) == []
    # another app on the same server is not affected
    lws(NOCLIENT_APP["key"]).assert_alive()
    # a freed slot can be used again
    first.close()

    def reconnects() -> bool:
        sock = lws(MAXCONN_APP["key"], expect_established=False)
        message = sock.recv()
        if message.event == "pusher:connection_established":
            sock.assert_alive()
            return True
        sock.close()
        return False

    eventually(reconnects, timeout=5, interval=0.2)


# --------------------------------------------------------------------------- keepalive


def test_pusher_ping_gets_pusher_pong(ws: Sockets) -> None:
    sock = ws()
    sock.send_event("pusher:ping", {})
    pong = sock.expect("pusher:pong")
    assert pong.channel is None
    sock.assert_silent()


def test_websocket_ping_frame_gets_pong(ws: Sockets) -> None:
    sock = ws()
    assert sock.conn.ping(b"hello").wait(5), "no pong frame"
    sock.assert_alive()


def test_idle_connection_is_pinged_then_closed_with_4201(lws: Sockets) -> None:
    sock = lws(IDLE_APP["key"])
    started = time.monotonic()
    ping = sock.expect("pusher:ping", timeout=4)
    assert time.monotonic() - started >= 0.5, "pinged before activity_timeout"
    assert ping.channel is None
    before_close = sock.expect_close(4201, timeout=4)
    # a pusher:error 4201 ahead of the close frame is allowed, nothing else
    assert all(m.event == "pusher:error" and m.data.get("code") == 4201 for m in before_close)


def test_idle_connection_answering_pings_stays_open(lws: Sockets) -> None:
    sock = lws(IDLE_APP["key"])
    pings = 0
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        try:
            message = sock.recv(timeout=0.2)
        except ClosedError:
            raise
        except AssertionError:
            continue
        assert message.event == "pusher:ping", message.raw
        pings += 1
        sock.send_event("pusher:pong", {})
    assert pings >= 1, "the server never pinged an idle connection"
    sock.assert_alive()


def test_activity_postpones_the_servers_ping(lws: Sockets) -> None:
    sock = lws(IDLE_APP["key"])
    for _ in range(6):  # 3 s of activity every 0.5 s: never idle for 1 s
        time.sleep(0.5)
        sock.send_event("pusher:ping", {})
        message = sock.recv()
        assert message.event == "pusher:pong", message.raw


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[1, 2, 3]",
        '"just a string"',
        "42",
        "null",
        '{"data": {}}',
        '{"event": 5}',
        '{"event": null, "data": {}}',
    ],
    ids=[
        "malformed",
        "array",
        "string",
        "number",
        "null",
        "missing-event",
        "event-number",
        "event-null",
    ],
)
def test_bad_message_gets_error_and_connection_stays(ws: Sockets, payload: str) -> None:
    sock = ws()
    sock.send_raw(payload)
    sock.expect_error(None)
    sock.assert_alive()


@pytest.mark.parametrize(
    "message",
    [
        {"event": "pusher:nonsense", "data": {}},
        {"event": "pusher_internal:subscription_succeeded", "data": {}, "channel": "x"},
        {"event": "my-event", "channel": "x", "data": "x"},
    ],
    ids=["unknown-pusher-event", "pusher-internal-event", "non-client-event"],
)
def test_unknown_event_gets_error(ws: Sockets, message: dict[str, Any]) -> None:
    sock = ws()
    sock.send_json(message)
    sock.expect_error(None)
    sock.assert_alive()


def test_binary_frame_closes_1003(ws: Sockets) -> None:
    sock = ws()
    sock.send_raw(json.dumps({"event": "pusher:ping", "data": {}}).encode())
    sock.expect_close(1003)


def test_message_over_10240_bytes_closes_1009(ws: Sockets) -> None:
    sock = ws()
    prefix = '{"event":"pusher:ping","data":{"pad":"'
    suffix = '"}}'
    sock.send_raw(prefix + "x" * (10241 - len(prefix) - len(suffix)) + suffix)
    sock.expect_close(1009)


def test_message_of_exactly_10240_bytes_is_accepted(ws: Sockets) -> None:
    sock = ws()
    prefix = '{"event":"pusher:ping","data":{"pad":"'
    suffix = '"}}'
    message = prefix + "x" * (10240 - len(prefix) - len(suffix)) + suffix
    assert len(message.encode()) == 10240
    sock.send_raw(message)
    sock.expect("pusher:pong")


def test_invalid_utf8_closes_1007(server: RunningServer) -> None:
    with RawWebSocket(
        server.host, server.port, f"/app/{DEFAULT_APP['key']}?{PROTOCOL_QUERY}"
    ) as raw:
        opcode, payload = raw.recv_frame()
        assert opcode == 0x1 and b"pusher:connection_established" in payload
        raw.send_frame(0x1, b'{"event":"pusher:ping","data":"\xff\xfe"}')
        raw.expect_close(1007)


def test_unmasked_frame_closes_1002(server: RunningServer) -> None:
    with RawWebSocket(
        server.host, server.port, f"/app/{DEFAULT_APP['key']}?{PROTOCOL_QUERY}"
    ) as raw:
        opcode, payload = raw.recv_frame()
        assert opcode == 0x1 and b"pusher:connection_established" in payload
        raw.send_frame(0x1, b'{"event":"pusher:ping","data":{}}', mask=False)
        raw.expect_close(1002)


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_tcp_is_dropped_promptly_after_the_close_handshake(
    server: RunningServer, initiator: str
) -> None:
    """RFC 6455 §7.1.1: once both close frames are exchanged the server closes TCP first."""
    target = f"/app/{DEFAULT_APP['key']}?{PROTOCOL_QUERY}"
    with RawWebSocket(server.host, server.port, target) as raw:
        raw.recv_frame()  # connection_established
        if initiator == "client":
            raw.send_frame(0x8, struct.pack("!H", 1000))
            raw.expect_close(1000)
        else:
            raw.send_frame(0x2, b"binary")  # the server closes with 1003
            raw.expect_close(1003)
            raw.send_frame(0x8, struct.pack("!H", 1003))
        started = time.monotonic()
        raw.sock.settimeout(5)
        try:
            rest = raw.sock.recv(1)
        except ConnectionResetError:
            rest = b""
        elapsed = time.monotonic() - started
        assert rest == b"", f"data after the close frame: {rest!r}"
        assert elapsed < 1.0, f"the server kept TCP open {elapsed:.1f} s after the close handshake"


def test_flood_of_messages_closes_4100(ws: Sockets) -> None:
    sock = ws()
    ping = json.dumps({"event": "pusher:ping", "data": {}})
    deadline = time.monotonic() + 6
    closed = False
    while time.monotonic() < deadline and not closed:
        batch_started = time.monotonic()
        try:
            for _ in range(40):  # 40 per 0.1 s: 400 messages/s
                sock.conn.send(ping)
        except ConnectionClosed:
            closed = True
        closed = closed or sock.close_frame_received() is not None
        # keep reading so the server's pongs and its close frame are processed
        while True:
            try:
                sock.conn.recv(timeout=0)
            except TimeoutError:
                break
            except ConnectionClosed:
                closed = True
                break
        time.sleep(max(0.0, 0.1 - (time.monotonic() - batch_started)))
    assert closed, "a flood of 400 messages/s for 6 s did not close the connection"
    sock.expect_close(4100, timeout=2)  # pusher-js backs off a second and reconnects


def test_moderate_rate_is_not_a_flood(ws: Sockets) -> None:
    sock = ws()
    for _ in range(30):  # 60 messages/s for 0.5 s
        sock.send_event("pusher:ping", {})
        time.sleep(1 / 60)
    for _ in range(30):
        sock.expect("pusher:pong")
    sock.assert_alive()


# --------------------------------------------------------------------------- channel names


@pytest.mark.parametrize(
    "channel",
    ["c" * 201, "foo bar", "a*b", "caf\u00e9", "a/b", "#foo", "", "private-" + "p" * 193],
    ids=["201-chars", "space", "star", "non-ascii", "slash", "hash", "empty", "private-201"],
)
def test_invalid_channel_name_is_rejected(ws: Sockets, api: Api, channel: str) -> None:
    sock = ws()
    sock.send_subscribe(channel)
    sock.expect_subscription_error(channel, 400)
    sock.assert_alive()
    assert_not_occupied(api, channel)


def test_200_char_name_with_every_allowed_character_is_accepted(ws: Sockets, api: Api) -> None:
    base = "AZaz09_-=@,.;" + unique("x")
    channel = base + "c" * (200 - len(base))
    assert len(channel) == 200
    sock = ws()
    sock.subscribe(channel)
    assert listed(api, channel)


@pytest.mark.parametrize(
    "prefix", ["privateer", "foo-private-x", "presenceX", "private", "xpresence-", "Private-"]
)
def test_names_that_only_look_private_are_public(ws: Sockets, api: Api, prefix: str) -> None:
    channel = prefix + unique("p")
    sock = ws()
    sock.subscribe(channel)
    api.publish_ok(channel, "e", "x")
    assert sock.expect("e", channel).raw["data"] == "x"


# --------------------------------------------------------------------------- private


def test_private_channel_with_valid_auth(ws: Sockets, api: Api) -> None:
    channel = unique("private-ok")
    sock = ws()
    sock.subscribe_private(DEFAULT_APP, channel)
    api.publish_ok(channel, "e", "x")
    assert sock.recv().raw == {"event": "e", "channel": channel, "data": "x"}


def _auth_cases(socket_id: str, other_socket_id: str, channel: str) -> dict[str, str | None]:
    key, secret = DEFAULT_APP["key"], DEFAULT_APP["secret"]
    good = channel_auth(key, secret, socket_id, channel)
    return {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "bad-signature": f"{key}:{'0' * 64}",
        "other-socket-id": channel_auth(key, secret, other_socket_id, channel),
        "other-channel": channel_auth(key, secret, socket_id, channel + "x"),
        "other-apps-key-and-secret": channel_auth(
            OTHER_APP["key"], OTHER_APP["secret"], socket_id, channel
        ),
        "other-apps-key-own-secret": channel_auth(OTHER_APP["key"], secret, socket_id, channel),
        "no-key": ":" + good.split(":", 1)[1],
    }


AUTH_CASES = list(_auth_cases("1.1", "2.2", "c"))


@pytest.mark.parametrize("case", AUTH_CASES)
@pytest.mark.parametrize("kind", ["private", "private-encrypted", "private-cache"])
def test_private_subscription_with_bad_auth_is_rejected(
    ws: Sockets, api: Api, case: str, kind: str
) -> None:
    channel = unique(kind)
    sock, other = ws(), ws()
    auth = _auth_cases(sock.socket_id, other.socket_id, channel)[case]
    sock.send_subscribe(channel, auth)
    sock.expect_subscription_error(channel, 401, 4009)
    sock.assert_alive()
    assert_not_occupied(api, channel)
    api.publish_ok(channel, "e", "x")
    sock.assert_silent()


def test_subscription_error_data_shape(ws: Sockets) -> None:
    channel = unique("private-shape")
    sock = ws()
    sock.send_subscribe(channel, f"{DEFAULT_APP['key']}:{'0' * 64}")
    _, sub_error = sock.expect_subscription_error(channel, 401, 4009)
    assert isinstance(sub_error.raw["data"], str), "data must be a JSON-encoded string"
    assert sub_error.data["type"] == "AuthError"
    assert set(sub_error.data) == {"type", "error", "status"}


# --------------------------------------------------------------------------- presence


def test_presence_members_and_events(ws: Sockets, api: Api) -> None:
    channel = unique("presence-room")
    alice, bob, alice2 = ws(), ws(), ws()
    succeeded = alice.subscribe_presence(DEFAULT_APP, channel, "alice", {"name": "Alice"})
    assert isinstance(succeeded.raw["data"], str)
    assert succeeded.data == {
        "presence": {"ids": ["alice"], "hash": {"alice": {"name": "Alice"}}, "count": 1}
    }
    succeeded = bob.subscribe_presence(DEFAULT_APP, channel, "bob", {"name": "Bob"})
    presence = succeeded.data["presence"]
    assert sorted(presence["ids"]) == ["alice", "bob"]
    assert presence["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
    assert presence["count"] == 2
    added = alice.expect("pusher_internal:member_added", channel)
    assert isinstance(added.raw["data"], str)
    assert added.data == {"user_id": "bob", "user_info": {"name": "Bob"}}
    bob.assert_silent(0.1)  # no member_added about oneself

    # a second connection of alice: no member_added, members de-duplicated
    succeeded = alice2.subscribe_presence(DEFAULT_APP, channel, "alice", {"name": "Alice"})
    assert succeeded.data["presence"]["count"] == 2
    assert sorted(succeeded.data["presence"]["ids"]) == ["alice", "bob"]
    alice.assert_silent(0.2)
    bob.assert_silent(0.0)

    # alice's second connection leaves: she is still there, no member_removed
    alice2.send_event("pusher:unsubscribe", {"channel": channel})
    alice2.assert_alive()
    bob.assert_silent(0.2)
    # her last connection leaves (by disconnecting): member_removed
    alice.close()
    removed = bob.expect("pusher_internal:member_removed", channel)
    assert removed.data == {"user_id": "alice"}
    assert api.channel(channel, "user_count") == {"occupied": True, "user_count": 1}


def test_presence_user_id_number_becomes_string(ws: Sockets, api: Api) -> None:
    channel = unique("presence-num")
    first, second = ws(), ws()
    succeeded = first.subscribe_presence(DEFAULT_APP, channel, 10, {"n": 1})
    assert succeeded.data == {"presence": {"ids": ["10"], "hash": {"10": {"n": 1}}, "count": 1}}
    # the same user as a string is the same member
    succeeded = second.subscribe_presence(DEFAULT_APP, channel, "10", {"n": 1})
    assert succeeded.data["presence"]["count"] == 1
    first.assert_silent(0.2)
    response = api.get(f"/channels/{channel}/users")
    assert response.json() == {"users": [{"id": "10"}]}


def test_presence_member_without_user_info(ws: Sockets) -> None:
    channel = unique("presence-bare")
    sock = ws()
    succeeded = sock.subscribe_presence(DEFAULT_APP, channel, "solo")
    presence = succeeded.data["presence"]
    assert presence["ids"] == ["solo"]
    assert presence["count"] == 1
    assert "solo" in presence["hash"]


BAD_CHANNEL_DATA: dict[str, Any] = {
    "user-info-over-1kb": presence_data("u", {"blob": "x" * 1100}),
    "user-id-129-chars": presence_data("u" * 129),
    "user-id-missing": json.dumps({"user_info": {}}),
    "user-id-object": presence_data({"id": 1}),
    "user-id-null": presence_data(None),
    "not-json": "{user_id: 1",
    "json-array": "[1]",
    "missing": None,
}


@pytest.mark.parametrize("case", list(BAD_CHANNEL_DATA))
def test_presence_with_bad_channel_data_is_rejected(ws: Sockets, api: Api, case: str) -> None:
    channel = unique("presence-bad")
    sock = ws()
    channel_data = BAD_CHANNEL_DATA[case]
    # correctly signed, so only channel_data is wrong
    auth = channel_auth(
        DEFAULT_APP["key"], DEFAULT_APP["secret"], sock.socket_id, channel, channel_data
    )
    sock.send_subscribe(channel, auth, channel_data)
    sock.expect_subscription_error(channel, 400)
    sock.assert_alive()
    assert_not_occupied(api, channel)


def test_presence_user_info_of_exactly_1kb_and_128_char_id_is_accepted(ws: Sockets) -> None:
    channel = unique("presence-edge")
    user_info = {"b": ""}
    user_info["b"] = "x" * (1024 - len(json.dumps(user_info)))
    assert len(json.dumps(user_info).encode()) == 1024
    sock = ws()
    sock.subscribe_presence(DEFAULT_APP, channel, "u" * 128, user_info)


def test_presence_with_bad_signature_is_rejected(ws: Sockets, api: Api) -> None:
    channel = unique("presence-sig")
    sock = ws()
    channel_data = presence_data("u1")
    signed_for = presence_data("u2")  # signed over other channel_data
    auth = channel_auth(
        DEFAULT_APP["key"], DEFAULT_APP["secret"], sock.socket_id, channel, signed_for
    )
    sock.send_subscribe(channel, auth, channel_data)
    sock.expect_subscription_error(channel, 401, 4009)
    assert_not_occupied(api, channel)


def test_presence_is_limited_to_max_members(lws: Sockets, limits_server: RunningServer) -> None:
    api = Api(limits_server.host, limits_server.port, PRESENCE3_APP)
    channel = unique("presence-full")
    members = [lws(PRESENCE3_APP["key"]) for _ in range(3)]
    for index, sock in enumerate(members):
        sock.subscribe_presence(PRESENCE3_APP, channel, f"m{index}")
    for sock in members:
        sock.drain(0.2)
    fourth = lws(PRESENCE3_APP["key"])
    channel_data = presence_data("m3")
    auth = channel_auth(
        PRESENCE3_APP["key"], PRESENCE3_APP["secret"], fourth.socket_id, channel, channel_data
    )
    fourth.send_subscribe(channel, auth, channel_data)
    fourth.expect_subscription_error(channel, 403)
    fourth.assert_alive()
    for sock in members:
        sock.assert_silent(0.1)  # no member_added for the refused user
    assert api.channel(channel, "user_count")["user_count"] == 3
    # an existing member's extra connection is not a new member
    again = lws(PRESENCE3_APP["key"])
    succeeded = again.subscribe_presence(PRESENCE3_APP, channel, "m0")
    assert succeeded.data["presence"]["count"] == 3


def test_presence_of_signed_in_user_without_channel_data(ws: Sockets) -> None:
    channel = unique("presence-signed")
    watcher, sock = ws(), ws()
    watcher.subscribe_presence(DEFAULT_APP, channel, "w")
    user_id = unique("user")
    sock.signin(DEFAULT_APP, {"id": user_id, "user_info": {"name": "Signed"}})
    sock.subscribe(
        channel, channel_auth(DEFAULT_APP["key"], DEFAULT_APP["secret"], sock.socket_id, channel)
    )
    added = watcher.expect("pusher_internal:member_added", channel)
    assert added.data["user_id"] == user_id


# --------------------------------------------------------------------------- client events


def _private_pair(
    ws: Sockets, prefix: str = "private-chat"
) -> tuple[str, PusherSocket, PusherSocket]:
    channel = unique(prefix)
    a, b = ws(), ws()
    a.subscribe_private(DEFAULT_APP, channel)
    b.subscribe_private(DEFAULT_APP, channel)
    return channel, a, b


def test_client_event_reaches_others_not_sender(ws: Sockets) -> None:
    channel, a, b = _private_pair(ws)
    c = ws()
    c.subscribe_private(DEFAULT_APP, channel)
    a.send_event("client-typing", "hello", channel)
    for receiver in (b, c):
        message = receiver.recv()
        assert message.raw == {"event": "client-typing", "channel": channel, "data": "hello"}
    a.assert_silent()


def test_client_event_object_data_arrives_json_encoded(ws: Sockets) -> None:
    channel, a, b = _private_pair(ws)
    a.send_event("client-move", {"x": 1, "y": [2, 3]}, channel)
    message = b.expect("client-move", channel)
    assert isinstance(message.raw["data"], str), "server → client data is a JSON-encoded string"
    assert json.loads(message.raw["data"]) == {"x": 1, "y": [2, 3]}


def test_client_event_on_presence_carries_user_id(ws: Sockets) -> None:
    channel = unique("presence-chat")
    a, b = ws(), ws()
    a.subscribe_presence(DEFAULT_APP, channel, "alice")
    b.subscribe_presence(DEFAULT_APP, channel, 42)
    a.expect("pusher_internal:member_added", channel)
    b.send_event("client-hi", "yo", channel)
    message = a.recv()
    assert message.raw == {"event": "client-hi", "channel": channel, "data": "yo", "user_id": "42"}
    b.assert_silent()


@pytest.mark.parametrize("kind", ["public", "private-encrypted-chat", "cache-chat"])
def test_client_event_rejected_on_wrong_channel_type(ws: Sockets, kind: str) -> None:
    channel = unique(kind)
    a, b = ws(), ws()
    for sock in (a, b):
        if kind.startswith("private"):
            sock.subscribe_private(DEFAULT_APP, channel)
        else:
            sock.subscribe(channel)
            if kind.startswith("cache"):
                sock.expect("pusher:cache_miss", channel)
    a.send_event("client-x", "nope", channel)
    a.expect_error(None)
    b.assert_silent()
    a.assert_alive()


def test_client_event_rejected_when_not_subscribed(ws: Sockets) -> None:
    channel = unique("private-chat")
    outsider, member = ws(), ws()
    member.subscribe_private(DEFAULT_APP, channel)
    outsider.send_event("client-x", "nope", channel)
    outsider.expect_error(None)
    member.assert_silent()


def test_client_event_rejected_after_unsubscribe(ws: Sockets) -> None:
    channel, a, b = _private_pair(ws)
    a.send_event("pusher:unsubscribe", {"channel": channel})
    a.send_event("client-x", "nope", channel)
    a.expect_error(None)
    b.assert_silent()


def test_client_event_rejected_when_app_disallows(lws: Sockets) -> None:
    channel = unique("private-chat")
    a, b = lws(NOCLIENT_APP["key"]), lws(NOCLIENT_APP["key"])
    a.subscribe_private(NOCLIENT_APP, channel)
    b.subscribe_private(NOCLIENT_APP, channel)
    a.send_event("client-x", "nope", channel)
    a.expect_error(None)
    b.assert_silent()
    a.assert_alive()


def test_non_client_event_from_client_is_rejected(ws: Sockets) -> None:
    channel, a, b = _private_pair(ws)
    a.send_event("typing", "nope", channel)
    a.expect_error(None)
    b.assert_silent()


def test_client_event_rate_limit(ws: Sockets) -> None:
    channel, a, b = _private_pair(ws)
    time.sleep(1 - (time.time() % 1) + 0.02)  # start right after a second boundary
    for index in range(11):
        a.send_event("client-n", str(index), channel)
    error = a.expect_error(4301)
    assert error.channel in (None, channel)
    received = [b.expect("client-n", channel).raw["data"] for _ in range(10)]
    assert received == [str(i) for i in range(10)]
    b.assert_silent()
    a.assert_silent(0.0)


# --------------------------------------------------------------------------- unsubscribe, cache


@pytest.mark.parametrize(
    "message",
    [
        {"event": "pusher:subscribe"},
        {"event": "pusher:subscribe", "data": "chan"},
        {"event": "pusher:subscribe", "data": {}},
        {"event": "pusher:subscribe", "data": {"channel": 5}},
        {"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": 5}},
        {"event": "pusher:unsubscribe", "data": 5},
        {"event": "pusher:signin", "data": "x"},
    ],
    ids=[
        "subscribe-no-data",
        "subscribe-data-string",
        "subscribe-no-channel",
        "subscribe-channel-number",
        "subscribe-auth-number",
        "unsubscribe-data-number",
        "signin-data-string",
    ],
)
def test_malformed_protocol_message_gets_error(ws: Sockets, message: dict[str, Any]) -> None:
    sock = ws()
    sock.send_json(message)
    messages = sock.drain(0.3)
    assert any(m.event == "pusher:error" for m in messages), [m.raw for m in messages]
    assert all(m.event in ("pusher:error", "pusher:subscription_error") for m in messages)
    sock.assert_alive()


def test_unsubscribe_stops_events(ws: Sockets, api: Api) -> None:
    channel = unique("unsub")
    sock = ws()
    sock.subscribe(channel)
    sock.send_event("pusher:unsubscribe", {"channel": channel})
    sock.assert_alive()  # the unsubscribe was processed (no reply of its own)
    eventually(lambda: not api.occupied(channel))
    api.publish_ok(channel, "e", "x")
    sock.assert_silent()


def test_unsubscribe_of_unknown_channel_is_harmless(ws: Sockets) -> None:
    sock = ws()
    sock.send_event("pusher:unsubscribe", {"channel": unique("never")})
    sock.assert_alive()


def test_cache_channel(ws: Sockets, api: Api) -> None:
    channel = unique("cache-prices")
    first = ws()
    first.subscribe(channel)
    first.expect("pusher:cache_miss", channel)
    api.publish_ok(channel, "price", "1")
    api.publish_ok(channel, "price", "2")
    assert first.recv().raw["data"] == "1"
    assert first.recv().raw["data"] == "2"
    late = ws()
    late.subscribe(channel)
    assert late.recv().raw == {"event": "price", "channel": channel, "data": "2"}
    late.assert_silent()
    first.assert_silent(0.0)


def test_private_cache_channel(ws: Sockets, api: Api) -> None:
    channel = unique("private-cache-x")
    first = ws()
    first.subscribe_private(DEFAULT_APP, channel)
    first.expect("pusher:cache_miss", channel)
    api.publish_ok(channel, "e", "cached")
    late = ws()
    late.subscribe_private(DEFAULT_APP, channel)
    assert late.recv().raw == {"event": "e", "channel": channel, "data": "cached"}


def test_non_cache_channel_gets_no_cache_miss(ws: Sockets) -> None:
    sock = ws()
    sock.subscribe(unique("plain"))
    sock.assert_silent()


# --------------------------------------------------------------------------- sign-in


def test_signin_success(ws: Sockets) -> None:
    sock = ws()
    user_data = json.dumps({"id": unique("user"), "user_info": {"name": "N"}})
    auth = user_auth(DEFAULT_APP["key"], DEFAULT_APP["secret"], sock.socket_id, user_data)
    sock.send_event("pusher:signin", {"auth": auth, "user_data": user_data})
    success = sock.expect("pusher:signin_success")
    assert isinstance(success.raw["data"], str)
    assert success.data == {"user_data": user_data}
    sock.assert_alive()


def _signin_cases(socket_id: str) -> dict[str, dict[str, Any]]:
    key, secret = DEFAULT_APP["key"], DEFAULT_APP["secret"]
    user_data = json.dumps({"id": "u-1"})

    def signed(data: str) -> dict[str, Any]:
        return {"auth": user_auth(key, secret, socket_id, data), "user_data": data}

    return {
        "bad-signature": {"auth": f"{key}:{'0' * 64}", "user_data": user_data},
        "other-socket": {"auth": user_auth(key, secret, "1.1", user_data), "user_data": user_data},
        "other-apps-secret": {
            "auth": user_auth(OTHER_APP["key"], OTHER_APP["secret"], socket_id, user_data),
            "user_data": user_data,
        },
        "missing-auth": {"user_data": user_data},
        "missing-user-data": {"auth": user_auth(key, secret, socket_id, "")},
        "id-missing": signed(json.dumps({"user_info": {}})),
        "id-empty": signed(json.dumps({"id": ""})),
        "id-number": signed(json.dumps({"id": 5})),
        "user-data-not-json": signed("{id"),
    }


@pytest.mark.parametrize("case", list(_signin_cases("1.1")))
def test_signin_failure_gets_4009_and_connection_stays(ws: Sockets, case: str) -> None:
    sock = ws()
    sock.send_event("pusher:signin", _signin_cases(sock.socket_id)[case])
    sock.expect_error(4009)
    sock.assert_alive()


def test_server_to_user_channel(ws: Sockets, api: Api) -> None:
    user_id = unique("user")
    sock, stranger = ws(), ws()
    sock.signin(DEFAULT_APP, {"id": user_id})
    sock.subscribe(f"#server-to-user-{user_id}")
    # not signed in as that user: refused
    stranger.send_subscribe(f"#server-to-user-{user_id}")
    messages = stranger.recv_n(2)
    assert {m.event for m in messages} == {"pusher:error", "pusher:subscription_error"}
    api.publish_ok(f"#server-to-user-{user_id}", "notice", "hi")
    assert sock.recv().raw == {
        "event": "notice",
        "channel": f"#server-to-user-{user_id}",
        "data": "hi",
    }
    sock.assert_silent()  # once, although both subscribed and signed in
    stranger.assert_silent(0.0)


def test_watchlist_initial_state_and_transitions(ws: Sockets) -> None:
    online, later = unique("user"), unique("user")
    present = ws()
    present.signin(DEFAULT_APP, {"id": online})
    watcher = ws()
    watcher.signin(DEFAULT_APP, {"id": unique("user"), "watchlist": [online, later]})
    initial = watcher.expect("pusher_internal:watchlist_events")
    assert initial.data == {"events": [{"name": "online", "user_ids": [online]}]}
    watcher.assert_silent(0.2)
    joiner = ws()
    joiner.signin(DEFAULT_APP, {"id": later})
    event = watcher.expect("pusher_internal:watchlist_events")
    assert event.data == {"events": [{"name": "online", "user_ids": [later]}]}
    second = ws()
    second.signin(DEFAULT_APP, {"id": later})  # not the first connection: no event
    watcher.assert_silent(0.2)
    joiner.close()
    watcher.assert_silent(0.2)  # not the last connection: no event
    second.close()
    event = watcher.expect("pusher_internal:watchlist_events")
    assert event.data == {"events": [{"name": "offline", "user_ids": [later]}]}


def test_watchlist_over_limit_keeps_the_first_ids(lws: Sockets) -> None:
    kept, also_kept, dropped = unique("w"), unique("w"), unique("w")
    watcher = lws(WATCH2_APP["key"])
    watcher.signin(WATCH2_APP, {"id": unique("user"), "watchlist": [kept, also_kept, dropped]})
    messages = watcher.drain(0.5)
    errors = [m for m in messages if m.event == "pusher:error"]
    assert len(errors) == 1, [m.raw for m in messages]
    assert errors[0].data.get("code") == 4302, errors[0].raw
    for m in messages:
        if m.event == "pusher_internal:watchlist_events":  # nobody is online yet
            assert all(not e["user_ids"] for e in m.data["events"]), m.raw
    other = lws(WATCH2_APP["key"])
    other.signin(WATCH2_APP, {"id": dropped})
    watcher.assert_silent(0.3)
    other2 = lws(WATCH2_APP["key"])
    other2.signin(WATCH2_APP, {"id": kept})
    event = watcher.expect("pusher_internal:watchlist_events")
    assert event.data == {"events": [{"name": "online", "user_ids": [kept]}]}


# --------------------------------------------------------------------------- isolation


def test_events_never_cross_apps(ws: Sockets, api: Api) -> None:
    channel = unique("shared")
    mine, theirs = ws(), ws(OTHER_APP["key"])
    mine.subscribe(channel)
    theirs.subscribe(channel)
    api.publish_ok(channel, "e", "for-1001")
    assert mine.expect("e", channel).raw["data"] == "for-1001"
    theirs.assert_silent()
    other_api = Api(api.host, api.port, OTHER_APP)
    other_api.publish_ok(channel, "e", "for-2002")
    assert theirs.expect("e", channel).raw["data"] == "for-2002"
    mine.assert_silent()


def test_presence_and_client_events_never_cross_apps(ws: Sockets) -> None:
    channel = unique("presence-shared")
    mine, theirs = ws(), ws(OTHER_APP["key"])
    mine.subscribe_presence(DEFAULT_APP, channel, "mine")
    succeeded = theirs.subscribe_presence(OTHER_APP, channel, "theirs")
    assert succeeded.data["presence"]["ids"] == ["theirs"]
    mine.assert_silent(0.2)
    theirs.send_event("client-x", "x", channel)
    mine.assert_silent()


# --------------------------------------------------------------------------- encoding


def test_every_server_message_data_is_a_json_string(ws: Sockets) -> None:
    channel = unique("presence-enc")
    a, b = ws(), ws()
    seen: list[Message] = [a.established, b.established]  # type: ignore[list-item]
    a.send_event("pusher:ping", {})
    seen.append(a.expect("pusher:pong"))
    a.send_raw("nope")
    seen.append(a.expect("pusher:error"))
    seen.append(a.subscribe_presence(DEFAULT_APP, channel, "a"))
    seen.append(b.subscribe_presence(DEFAULT_APP, channel, "b"))
    seen.append(a.expect("pusher_internal:member_added"))
    b.close()
    seen.append(a.expect("pusher_internal:member_removed"))
    a.send_subscribe(unique("private-x"), "bad:sig")
    seen.extend(a.recv_n(2))
    for message in seen:
        assert message is not None
        if "data" in message.raw:
            assert isinstance(message.raw["data"], str), message.raw
