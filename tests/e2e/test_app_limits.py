"""Per-app limits set away from their defaults, against a real ``leadcast realtime``.

One server runs the default app next to ``SMALL_APP``, whose limits are all small, so each
test shows both that the app's own limit is applied and that another app on the same server
keeps the default. Also here: the subscriptions pusher-js sends in one burst after every
connect, the presence ``user_info`` limit for signed-in users, and sign-in ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.e2e.wsclient import (
    Api,
    PusherSocket,
    channel_auth,
    unique,
    user_auth,
)
from tests.support.client_messages import presence_data

SMALL_APP: dict[str, Any] = {
    "id": "4001",
    "key": "small-key",
    "secret": "small-secret",
    "client_events": True,
    "max_message_bytes": 2048,
    "max_event_name_length": 20,
    "max_presence_members": 2,
    "max_presence_user_info_bytes": 64,
    "max_channels_per_connection": 5,
}

Sockets = Callable[..., PusherSocket]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default app and ``SMALL_APP`` (the conftest ``ws`` fixture connects here)."""
    path: Path = tmp_path_factory.mktemp("app-limits")
    with realtime_server(path, [DEFAULT_APP, SMALL_APP]) as running:
        yield running


@pytest.fixture(scope="module")
def small_api(server: RunningServer) -> Api:
    return Api(server.host, server.port, SMALL_APP)


@pytest.fixture(scope="module")
def default_api(server: RunningServer) -> Api:
    return Api(server.host, server.port, DEFAULT_APP)


def ping_of(size: int) -> str:
    """A ``pusher:ping`` text message of exactly ``size`` UTF-8 bytes."""
    prefix, suffix = '{"event":"pusher:ping","data":{"pad":"', '"}}'
    message = prefix + "x" * (size - len(prefix) - len(suffix)) + suffix
    assert len(message.encode()) == size
    return message


def user_info_of(size: int) -> str:
    """A string ``user_info`` whose JSON encoding is exactly ``size`` bytes."""
    return "x" * (size - 2)


def send_signin(sock: PusherSocket, app: dict[str, Any], user: dict[str, Any]) -> None:
    user_data = json.dumps(user)
    auth = user_auth(app["key"], app["secret"], sock.socket_id, user_data)
    sock.send_event("pusher:signin", {"auth": auth, "user_data": user_data})


def assert_not_occupied(api: Api, channel: str) -> None:
    response = api.get("/channels")
    assert response.status == 200, response
    assert channel not in response.json()["channels"]


# --------------------------------------------------------------------------- max_message_bytes


def test_websocket_message_over_the_apps_limit_closes_1009(ws: Sockets) -> None:
    sock = ws(SMALL_APP["key"])
    sock.send_raw(ping_of(2048))
    sock.expect("pusher:pong")
    sock.send_raw(ping_of(2049))
    sock.expect_close(1009)


def test_the_default_app_on_the_same_server_still_takes_10kb(ws: Sockets) -> None:
    sock = ws()
    sock.send_raw(ping_of(10240))
    sock.expect("pusher:pong")
    sock.send_raw(ping_of(10241))
    sock.expect_close(1009)


def test_publish_over_the_apps_data_limit_is_413(
    ws: Sockets, small_api: Api, default_api: Api
) -> None:
    channel = unique("limits")
    small, default = ws(SMALL_APP["key"]), ws()
    small.subscribe(channel)
    default.subscribe(channel)
    response = small_api.publish(channel, "e", "x" * 2049)
    assert response.status == 413, response
    assert "2048" in response.json()["error"]
    small.assert_silent()
    small_api.publish_ok(channel, "e", "x" * 2048)
    assert small.expect("e", channel).raw["data"] == "x" * 2048
    # the same data is fine for the default app
    default_api.publish_ok(channel, "e", "x" * 2049)
    assert default.expect("e", channel).raw["data"] == "x" * 2049
    small.assert_silent(0.0)


# --------------------------------------------------------------------------- max_event_name_length


def test_publish_event_name_over_the_apps_limit_is_400(
    ws: Sockets, small_api: Api, default_api: Api
) -> None:
    channel = unique("names")
    sock = ws(SMALL_APP["key"])
    sock.subscribe(channel)
    response = small_api.publish(channel, "e" * 21, "d")
    assert response.status == 400, response
    sock.assert_silent()
    small_api.publish_ok(channel, "e" * 20, "d")
    sock.expect("e" * 20, channel)
    assert default_api.publish(channel, "e" * 21, "d").status == 200


def test_client_event_name_over_the_apps_limit_is_rejected(ws: Sockets) -> None:
    channel = unique("private-names")
    sender, receiver = ws(SMALL_APP["key"]), ws(SMALL_APP["key"])
    sender.subscribe_private(SMALL_APP, channel)
    receiver.subscribe_private(SMALL_APP, channel)
    too_long = "client-" + "n" * 14  # 21 characters
    sender.send_event(too_long, "d", channel)
    assert "too long" in sender.expect_error(None).data["message"]
    receiver.assert_silent()
    fits = "client-" + "n" * 13
    sender.send_event(fits, "d", channel)
    assert receiver.expect(fits, channel).raw["data"] == "d"


# --------------------------------------------------------------------------- presence limits


def test_presence_user_info_over_the_apps_limit_is_refused(ws: Sockets, small_api: Api) -> None:
    channel = unique("presence-info")
    sock = ws(SMALL_APP["key"])
    channel_data = presence_data("u1", user_info_of(65))
    auth = channel_auth(
        SMALL_APP["key"], SMALL_APP["secret"], sock.socket_id, channel, channel_data
    )
    sock.send_subscribe(channel, auth, channel_data)
    _, sub_error = sock.expect_subscription_error(channel, 400)
    assert sub_error.data["error"] == "user_info is over 64 bytes"
    assert_not_occupied(small_api, channel)
    sock.subscribe_presence(SMALL_APP, channel, "u1", user_info_of(64))


def test_presence_members_over_the_apps_limit_are_refused(ws: Sockets, small_api: Api) -> None:
    channel = unique("presence-full")
    first, second, third = ws(SMALL_APP["key"]), ws(SMALL_APP["key"]), ws(SMALL_APP["key"])
    first.subscribe_presence(SMALL_APP, channel, "u1")
    second.subscribe_presence(SMALL_APP, channel, "u2")
    first.drain(0.2)
    channel_data = presence_data("u3")
    auth = channel_auth(
        SMALL_APP["key"], SMALL_APP["secret"], third.socket_id, channel, channel_data
    )
    third.send_subscribe(channel, auth, channel_data)
    third.expect_subscription_error(channel, 403)
    third.assert_alive()
    first.assert_silent(0.1)  # no member_added for the refused user
    # another connection of an existing member is not a new member
    assert third.subscribe_presence(SMALL_APP, channel, "u1").data["presence"]["count"] == 2
    assert small_api.channel(channel, "user_count")["user_count"] == 2


@pytest.mark.parametrize(
    ("app", "size"),
    [(DEFAULT_APP, 8192), (DEFAULT_APP, 1025), (SMALL_APP, 65)],
    ids=["default-8kb", "default-1kb+1", "small-65b"],
)
def test_signed_in_user_info_over_the_limit_cannot_join_presence(
    ws: Sockets, server: RunningServer, app: dict[str, Any], size: int
) -> None:
    # Sign-in takes the user_info (only presence uses it); joining a presence channel as the
    # signed-in user, without channel_data, applies the app's presence limit.
    api = Api(server.host, server.port, app)
    channel = unique("presence-signed")
    watcher, sock = ws(app["key"]), ws(app["key"])
    watcher.subscribe_presence(app, channel, "watcher")
    user_id = unique("user")
    sock.signin(app, {"id": user_id, "user_info": user_info_of(size)})
    sock.send_subscribe(channel, channel_auth(app["key"], app["secret"], sock.socket_id, channel))
    _, sub_error = sock.expect_subscription_error(channel, 400)
    limit = app.get("max_presence_user_info_bytes", 1024)
    assert sub_error.data["error"] == f"the signed-in user's user_info is over {limit} bytes"
    sock.assert_alive()
    watcher.assert_silent(0.1)  # no member_added
    assert api.channel(channel, "user_count")["user_count"] == 1
    # the same user may still join with channel_data that fits
    sock.subscribe_presence(app, channel, user_id, {"name": "N"})
    assert watcher.expect("pusher_internal:member_added", channel).data["user_id"] == user_id


def test_signed_in_user_info_at_the_limit_joins_presence(ws: Sockets) -> None:
    channel = unique("presence-signed")
    watcher, sock = ws(SMALL_APP["key"]), ws(SMALL_APP["key"])
    watcher.subscribe_presence(SMALL_APP, channel, "watcher")
    user_id = unique("user")
    sock.signin(SMALL_APP, {"id": user_id, "user_info": user_info_of(64)})
    sock.subscribe(
        channel, channel_auth(SMALL_APP["key"], SMALL_APP["secret"], sock.socket_id, channel)
    )
    added = watcher.expect("pusher_internal:member_added", channel)
    assert added.data == {"user_id": user_id, "user_info": user_info_of(64)}


# --------------------------------------------------------------------------- subscriptions


def test_300_subscriptions_in_one_burst_all_succeed(ws: Sockets) -> None:
    # pusher-js resubscribes every channel at once after each connect; the flood limit (a
    # burst of 200 messages) must not close such a client, on this connect or the next.
    names = [unique("burst") for _ in range(150)] + [unique("private-burst") for _ in range(150)]
    for _ in range(2):  # a connect, then a reconnect
        sock = ws()
        for name in names:
            auth = None
            if name.startswith("private-"):
                auth = channel_auth(DEFAULT_APP["key"], DEFAULT_APP["secret"], sock.socket_id, name)
            sock.send_subscribe(name, auth)
        confirmed = [sock.expect("pusher_internal:subscription_succeeded") for _ in names]
        assert sorted(message.channel for message in confirmed) == sorted(names)
        sock.assert_alive()
        sock.close()


def test_channels_per_connection_over_the_apps_limit_are_refused(
    ws: Sockets, small_api: Api
) -> None:
    sock = ws(SMALL_APP["key"])
    names = [unique("held") for _ in range(5)]
    for name in names:
        sock.subscribe(name)
    extra = unique("extra")
    sock.send_subscribe(extra)
    _, sub_error = sock.expect_subscription_error(extra, 403)
    assert sub_error.data["error"] == "a connection may hold at most 5 channels"
    sock.assert_alive()
    assert_not_occupied(small_api, extra)
    sock.send_event("pusher:unsubscribe", {"channel": names[0]})
    sock.subscribe(extra)


# --------------------------------------------------------------------------- sign-in ids


@pytest.mark.parametrize(
    "user_id",
    ["jane doe/é", "a b", "a#b", "u" * 129],
    ids=["space-slash-accent", "space", "hash", "129-chars"],
)
def test_signin_with_an_id_that_cannot_name_a_channel_is_refused(ws: Sockets, user_id: str) -> None:
    # Such a user could sign in before, and then pusher-js's #server-to-user-{id} subscribe
    # was refused and the HTTP API could neither publish to nor terminate them.
    sock = ws()
    send_signin(sock, DEFAULT_APP, {"id": user_id})
    error = sock.expect_error(4009)
    assert error.data["message"].startswith("Invalid user_data: user id ")
    sock.assert_alive()
    sock.signin(DEFAULT_APP, {"id": unique("user")})  # the failure left it signed out


def test_signed_in_id_with_every_allowed_character_is_reachable(
    ws: Sockets, default_api: Api
) -> None:
    user_id = unique("AZaz09_-=@,.;")
    sock = ws()
    sock.signin(DEFAULT_APP, {"id": user_id})
    sock.subscribe(f"#server-to-user-{user_id}")  # what pusher-js does after signing in
    default_api.publish_ok(f"#server-to-user-{user_id}", "notice", "hi")
    assert sock.expect("notice", f"#server-to-user-{user_id}").raw["data"] == "hi"
    response = default_api.post(f"/users/{user_id}/terminate_connections", {})
    assert response.status == 200, response
    sock.expect_close(4009)
