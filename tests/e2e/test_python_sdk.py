"""The official ``pusher`` Python SDK (PyPI) against ``leadcast realtime``.

The SDK is used unmodified with ``host``/``port``/``ssl=False``. Two SDK gaps are bridged with
the SDK's own request machinery (``pusher.http.Request``, signed by the SDK): ``trigger`` has no
``info`` argument, and ``trigger`` checks some sizes client-side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus, PusherError
from pusher.http import POST, Request

from tests.e2e.server import DEFAULT_APP, RunningServer
from tests.e2e.wsclient import Api, PusherSocket, unique


def make_client(server: RunningServer, app: dict[str, Any] | None = None, **overrides: Any) -> Any:
    app = dict(app or DEFAULT_APP)
    app.update(overrides)
    return pusher.Pusher(
        app_id=app["id"],
        key=app["key"],
        secret=app["secret"],
        host=server.host,
        port=server.port,
        ssl=False,
        timeout=5,
    )


def close_client(client: Any) -> None:
    client._pusher_client.http.session.close()
    client._authentication_client.http.session.close()


@pytest.fixture(scope="module")
def sdk(server: RunningServer) -> Iterator[Any]:
    client = make_client(server)
    yield client
    close_client(client)


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Api:
    return Api(server.host, server.port, DEFAULT_APP)


def send_raw_request(client: Any, path: str, params: dict[str, Any]) -> Any:
    """POST ``params`` through the SDK's signing and transport, skipping its own checks."""
    inner = client._pusher_client
    return inner.http.send_request(Request(inner, POST, path, params))


def assert_nothing_then_sentinel(sock: PusherSocket, sdk: Any, channel: str) -> None:
    sock.assert_silent(0.2)
    sentinel = unique("sentinel")
    sdk.trigger(channel, "sentinel", sentinel)
    assert sock.expect("sentinel", channel).raw["data"] == sentinel


# --------------------------------------------------------------------------- trigger


def test_trigger_one_channel(sdk: Any, ws: Any) -> None:
    channel = unique("sdk")
    sock = ws()
    sock.subscribe(channel)
    assert sdk.trigger(channel, "lead-created", "plain text") == {}
    assert sock.recv().raw == {"event": "lead-created", "channel": channel, "data": "plain text"}
    sock.assert_silent()


def test_trigger_dict_data_arrives_as_the_sdks_json(sdk: Any, ws: Any) -> None:
    channel = unique("sdk")
    sock = ws()
    sock.subscribe(channel)
    payload = {"lead": 7, "name": "Zoë", "tags": ["a", "b"]}
    sdk.trigger(channel, "lead", payload)
    message = sock.expect("lead", channel)
    assert message.raw["data"] == json.dumps(payload, ensure_ascii=False)


def test_trigger_several_channels(sdk: Any, ws: Any) -> None:
    channels = [unique("sdk-multi") for _ in range(3)]
    socks = []
    for channel in channels:
        sock = ws()
        sock.subscribe(channel)
        socks.append(sock)
    assert sdk.trigger(channels, "fan", "d") == {}
    for sock, channel in zip(socks, channels, strict=True):
        assert sock.recv().raw == {"event": "fan", "channel": channel, "data": "d"}
        sock.assert_silent(0.1)


def test_trigger_batch(sdk: Any, ws: Any) -> None:
    one, two = unique("sdk-batch"), unique("sdk-batch")
    s1, s2 = ws(), ws()
    s1.subscribe(one)
    s2.subscribe(two)
    result = sdk.trigger_batch(
        [
            {"channel": one, "name": "a", "data": {"n": 1}},
            {"channel": two, "name": "b", "data": "two"},
        ]
    )
    assert result == {}
    assert s1.recv().raw == {"event": "a", "channel": one, "data": '{"n": 1}'}
    assert s2.recv().raw == {"event": "b", "channel": two, "data": "two"}


def test_trigger_excludes_socket_id(sdk: Any, ws: Any) -> None:
    channel = unique("sdk-excl")
    sender, other = ws(), ws()
    sender.subscribe(channel)
    other.subscribe(channel)
    sdk.trigger(channel, "e", "x", socket_id=sender.socket_id)
    assert other.expect("e", channel).raw["data"] == "x"
    sender.assert_silent()


def test_trigger_with_info(sdk: Any, ws: Any) -> None:
    public, presence = unique("sdk-info"), unique("presence-sdk-info")
    a, b = ws(), ws()
    a.subscribe(public)
    b.subscribe(public)
    a.subscribe_presence(DEFAULT_APP, presence, "u1")
    b.subscribe_presence(DEFAULT_APP, presence, "u2")
    a.drain(0.2)
    path = f"/apps/{DEFAULT_APP['id']}/events"
    result = send_raw_request(
        sdk, path, {"name": "e", "channels": [public], "data": "x", "info": "subscription_count"}
    )
    assert result == {"channels": {public: {"subscription_count": 2}}}
    result = send_raw_request(
        sdk, path, {"name": "e", "channels": [presence], "data": "x", "info": "user_count"}
    )
    assert result == {"channels": {presence: {"user_count": 2}}}


# --------------------------------------------------------------------------- queries


def test_channels_info_with_prefix_and_user_count(sdk: Any, ws: Any) -> None:
    base = unique("q")
    public = [f"{base}-one", f"{base}-two"]
    presence = f"presence-{base}"
    a, b = ws(), ws()
    for channel in public:
        a.subscribe(channel)
    a.subscribe_presence(DEFAULT_APP, presence, "u1")
    b.subscribe_presence(DEFAULT_APP, presence, "u2")
    assert sdk.channels_info(prefix_filter=base) == {"channels": {public[0]: {}, public[1]: {}}}
    assert sdk.channels_info(prefix_filter=presence, attributes=["user_count"]) == {
        "channels": {presence: {"user_count": 2}}
    }
    everything = sdk.channels_info()["channels"]
    assert set(public) | {presence} <= set(everything)


def test_channels_info_user_count_needs_presence_prefix(sdk: Any) -> None:
    with pytest.raises(PusherBadRequest):
        sdk.channels_info(prefix_filter="private-", attributes=["user_count"])


def test_channel_info(sdk: Any, ws: Any) -> None:
    channel = unique("sdk-one")
    assert sdk.channel_info(channel) == {"occupied": False}
    a, b = ws(), ws()
    a.subscribe(channel)
    b.subscribe(channel)
    assert sdk.channel_info(channel) == {"occupied": True}
    assert sdk.channel_info(channel, ["subscription_count"]) == {
        "occupied": True,
        "subscription_count": 2,
    }
    presence = unique("presence-sdk-one")
    a.subscribe_presence(DEFAULT_APP, presence, "u1")
    b.subscribe_presence(DEFAULT_APP, presence, "u1")
    assert sdk.channel_info(presence, ["user_count"]) == {"occupied": True, "user_count": 1}


def test_channel_info_cache(sdk: Any, ws: Any) -> None:
    channel = unique("cache-sdk")
    assert sdk.channel_info(channel, ["cache"]) == {"occupied": False}
    payload = {"lead": 7, "name": "Zoë"}
    sdk.trigger(channel, "lead", payload)
    info = sdk.channel_info(channel, ["cache"])
    assert info["occupied"] is False
    cache = info["cache"]
    assert (cache["event"], cache["data"]) == ("lead", json.dumps(payload, ensure_ascii=False))
    assert 1790 <= cache["ttl"] <= 1800  # cache_ttl defaults to 30 minutes
    sock = ws()
    sock.subscribe(channel)
    assert sock.expect("lead", channel).raw["data"] == cache["data"]
    both = sdk.channel_info(channel, ["subscription_count", "cache"])
    assert both == {"occupied": True, "subscription_count": 1, "cache": both["cache"]}
    assert both["cache"]["data"] == cache["data"]
    with pytest.raises(PusherBadRequest):
        sdk.channel_info(unique("not-cache"), ["cache"])


def test_users_info(sdk: Any, ws: Any) -> None:
    channel = unique("presence-sdk-users")
    a, b, c = ws(), ws(), ws()
    a.subscribe_presence(DEFAULT_APP, channel, "u1", {"name": "One"})
    b.subscribe_presence(DEFAULT_APP, channel, "u2")
    c.subscribe_presence(DEFAULT_APP, channel, 3)
    users = sdk.users_info(channel)["users"]
    assert sorted(users, key=lambda u: u["id"]) == [{"id": "3"}, {"id": "u1"}, {"id": "u2"}]
    with pytest.raises(PusherBadRequest):
        sdk.users_info(unique("public"))


# --------------------------------------------------------------------------- users


def signin_with_sdk(sdk: Any, sock: PusherSocket, user: dict[str, Any]) -> None:
    payload = sdk.authenticate_user(sock.socket_id, user)
    sock.send_event("pusher:signin", payload)
    success = sock.expect("pusher:signin_success")
    assert success.data == {"user_data": payload["user_data"]}


def test_authenticate_user_signs_in(sdk: Any, ws: Any) -> None:
    sock = ws()
    signin_with_sdk(sdk, sock, {"id": unique("user"), "user_info": {"name": "N"}})
    sock.assert_alive()


def test_send_to_user(sdk: Any, ws: Any) -> None:
    user_id = unique("user")
    first, second, stranger = ws(), ws(), ws()
    signin_with_sdk(sdk, first, {"id": user_id})
    signin_with_sdk(sdk, second, {"id": user_id})
    signin_with_sdk(sdk, stranger, {"id": unique("user")})
    assert sdk.send_to_user(user_id, "notice", {"text": "hi"}) == {}
    expected = {
        "event": "notice",
        "channel": f"#server-to-user-{user_id}",
        "data": json.dumps({"text": "hi"}, ensure_ascii=False),
    }
    assert first.recv().raw == expected
    assert second.recv().raw == expected
    stranger.assert_silent()
    first.assert_silent(0.0)


def test_terminate_user_connections(sdk: Any, ws: Any) -> None:
    user_id = unique("user")
    first, second, bystander, anonymous = ws(), ws(), ws(), ws()
    signin_with_sdk(sdk, first, {"id": user_id})
    signin_with_sdk(sdk, second, {"id": user_id})
    signin_with_sdk(sdk, bystander, {"id": unique("user")})
    # the SDK posts to /users/{id}/terminate_connections (no /apps/{id} prefix)
    assert sdk.terminate_user_connections(user_id) == {}
    first.expect_close(4009)
    second.expect_close(4009)
    bystander.assert_alive()
    anonymous.assert_alive()


# --------------------------------------------------------------------------- channel auth


def test_authenticate_private_channel(sdk: Any, ws: Any) -> None:
    channel = unique("private-sdk")
    sock = ws()
    payload = sdk.authenticate(channel, sock.socket_id)
    assert set(payload) == {"auth"}
    sock.subscribe(channel, payload["auth"])
    sdk.trigger(channel, "e", "private-data")
    assert sock.recv().raw == {"event": "e", "channel": channel, "data": "private-data"}


def test_authenticate_presence_channel(sdk: Any, ws: Any) -> None:
    channel = unique("presence-sdk")
    sock = ws()
    payload = sdk.authenticate(
        channel, sock.socket_id, {"user_id": "sdk-user", "user_info": {"name": "SDK"}}
    )
    succeeded = sock.subscribe(channel, payload["auth"], payload["channel_data"])
    assert succeeded.data == {
        "presence": {"ids": ["sdk-user"], "hash": {"sdk-user": {"name": "SDK"}}, "count": 1}
    }
    assert sdk.users_info(channel) == {"users": [{"id": "sdk-user"}]}


def test_authenticate_for_another_socket_is_rejected(sdk: Any, ws: Any, api: Api) -> None:
    channel = unique("private-sdk")
    sock, other = ws(), ws()
    payload = sdk.authenticate(channel, other.socket_id)
    sock.send_subscribe(channel, payload["auth"])
    sock.expect_subscription_error(channel, 401, 4009)
    assert sdk.channel_info(channel) == {"occupied": False}


# --------------------------------------------------------------------------- errors


def test_wrong_secret_raises_bad_auth(server: RunningServer, ws: Any, sdk: Any) -> None:
    channel = unique("sdk-err")
    sock = ws()
    sock.subscribe(channel)
    bad = make_client(server, secret="wrong-secret")
    try:
        with pytest.raises(PusherBadAuth):
            bad.trigger(channel, "e", "x")
        with pytest.raises(PusherBadAuth):
            bad.channel_info(channel)
    finally:
        close_client(bad)
    assert_nothing_then_sentinel(sock, sdk, channel)


def test_data_over_10kb_is_413(sdk: Any, ws: Any) -> None:
    channel = unique("sdk-big")
    sock = ws()
    sock.subscribe(channel)
    # the SDK lets this through (its own check is sys.getsizeof > 30720), the server must not
    with pytest.raises(PusherBadStatus, match=r"^413"):
        sdk.trigger(channel, "e", "x" * 10241)
    batch = [{"name": "e", "channel": channel, "data": "x" * 10241}]
    with pytest.raises(PusherBadStatus, match=r"^413"):
        send_raw_request(sdk, f"/apps/{DEFAULT_APP['id']}/batch_events", {"batch": batch})
    assert_nothing_then_sentinel(sock, sdk, channel)


def test_unknown_app_id_is_an_error(server: RunningServer, ws: Any, sdk: Any) -> None:
    channel = unique("sdk-noapp")
    sock = ws()
    sock.subscribe(channel)
    unknown = make_client(server, id="9999")
    try:
        with pytest.raises(PusherError) as caught:
            unknown.trigger(channel, "e", "x")
    finally:
        close_client(unknown)
    assert isinstance(caught.value, PusherBadStatus), repr(caught.value)
    assert str(caught.value).startswith("404"), repr(caught.value)
    assert_nothing_then_sentinel(sock, sdk, channel)
