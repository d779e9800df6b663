"""The HTTP API of ``leadcast realtime``, called raw and signed by hand (docs/realtime.md).

Every rejected request is checked twice: the documented status with a JSON ``{"error": ...}``
body, and no effect: a subscriber of the targeted channel receives nothing (a valid sentinel
publish sent afterwards must be the very next message it gets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import DEFAULT_APP, OTHER_APP, RunningServer, realtime_server
from tests.e2e.wsclient import (
    Api,
    HttpResponse,
    PusherSocket,
    http_request,
    http_request_streaming,
    md5_hex,
    sign_api_request,
    unique,
)

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Api:
    return Api(server.host, server.port, server.app(0))


@pytest.fixture(scope="module")
def other_api(server: RunningServer) -> Api:
    return Api(server.host, server.port, server.app(1))


@pytest.fixture
def subscriber(ws: Callable[..., PusherSocket]) -> tuple[PusherSocket, str]:
    """A socket subscribed to a fresh public channel."""
    channel = unique("api")
    sock = ws()
    sock.subscribe(channel)
    return sock, channel


def assert_error(response: HttpResponse, status: int) -> str:
    assert response.status == status, response
    body = response.json()
    assert isinstance(body, dict), response
    assert isinstance(body.get("error"), str), response
    assert body["error"], response
    return body["error"]


def assert_received_nothing(sock: PusherSocket, api: Api, channel: str) -> None:
    """Nothing arrived; a sentinel published now is the next (and only) message."""
    sock.assert_silent(0.2)
    sentinel = unique("sentinel")
    api.publish_ok(channel, "sentinel", sentinel)
    message = sock.expect("sentinel", channel)
    assert message.raw["data"] == sentinel
    sock.assert_silent(0.1)


def event_body(channel: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "my-event", "channel": channel, "data": "payload"}
    body.update(overrides)
    return body


# --------------------------------------------------------------------------- signing


def test_signature_matches_the_official_test_vector() -> None:
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    assert md5_hex(body) == "ec365a775a4cd0599faeb73354201b6f"
    params = {
        "auth_key": "278d425bdf160c739803",
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": md5_hex(body),
    }
    signature = sign_api_request("7ad3773142a6692b25b8", "POST", "/apps/3/events", params)
    assert signature == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"


def test_signature_sorts_keys_and_does_not_escape_values() -> None:
    params = {"b": "x,y", "A": "1", "auth_signature": "ignored"}
    expected = hmac.new(b"s", b"GET\n/p\na=1&b=x,y", hashlib.sha256).hexdigest()
    assert sign_api_request("s", "GET", "/p", params) == expected


# --------------------------------------------------------------------------- publishing


def test_publish_reaches_subscriber_with_exact_message(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    data = json.dumps({"lead": 42, "text": "héllo"})
    response = api.publish(channel, "lead-created", data)
    assert response.status == 200, response
    assert response.json() == {}
    message = sock.recv()
    assert message.raw == {"event": "lead-created", "channel": channel, "data": data}
    sock.assert_silent()


def test_publish_to_several_channels(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channels = [unique("multi") for _ in range(3)]
    socks = []
    for channel in channels:
        sock = ws()
        sock.subscribe(channel)
        socks.append(sock)
    response = api.post("/events", {"name": "fan-out", "channels": channels, "data": "d"})
    assert response.status == 200, response
    assert response.json() == {}
    for sock, channel in zip(socks, channels, strict=True):
        assert sock.recv().raw == {"event": "fan-out", "channel": channel, "data": "d"}
        sock.assert_silent(0.1)


def test_publish_to_100_channels_is_accepted(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("hundred")
    sock = ws()
    sock.subscribe(channel)
    channels = [channel] + [unique("c") for _ in range(99)]
    response = api.post("/events", {"name": "e", "channels": channels, "data": "x"})
    assert response.status == 200, response
    assert sock.expect("e", channel).raw["data"] == "x"


def test_publish_with_200_char_name_and_10240_byte_data_is_accepted(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    name = "n" * 200
    data = "é" * 5120  # 10240 bytes of UTF-8
    assert len(data.encode()) == 10240
    response = api.publish(channel, name, data)
    assert response.status == 200, response
    message = sock.expect(name, channel)
    assert message.raw["data"] == data


def test_batch_of_10_events_of_10240_bytes_is_accepted(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    # about 200 KB of JSON (each quote escaped): well inside any sane body limit
    batch = [{"name": f"e{i}", "channel": channel, "data": '"' * 10240} for i in range(10)]
    response = api.post("/batch_events", {"batch": batch})
    assert response.status == 200, response
    for i in range(10):
        assert sock.expect(f"e{i}", channel).raw["data"] == '"' * 10240


def test_publish_excludes_socket_id(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("exclude")
    sender, other = ws(), ws()
    sender.subscribe(channel)
    other.subscribe(channel)
    api.publish_ok(channel, "e", "x", socket_id=sender.socket_id)
    assert other.expect("e", channel).raw["data"] == "x"
    sender.assert_silent()


def test_publish_with_info_returns_subscription_count(
    api: Api, ws: Callable[..., PusherSocket]
) -> None:
    channel = unique("info")
    a, b = ws(), ws()
    a.subscribe(channel)
    b.subscribe(channel)
    body = api.publish_ok(channel, "e", "x", info="subscription_count")
    assert body == {"channels": {channel: {"subscription_count": 2}}}


def test_publish_with_info_returns_user_count_on_presence(
    api: Api, ws: Callable[..., PusherSocket]
) -> None:
    channel = unique("presence-info")
    a, b, c = ws(), ws(), ws()
    a.subscribe_presence(api.app, channel, "u1")
    b.subscribe_presence(api.app, channel, "u2")
    c.subscribe_presence(api.app, channel, "u2")  # same user twice counts once
    body = api.publish_ok(channel, "e", "x", info="user_count")
    assert body == {"channels": {channel: {"user_count": 2}}}


def test_batch_events_are_delivered(api: Api, ws: Callable[..., PusherSocket]) -> None:
    one, two = unique("batch"), unique("batch")
    s1, s2 = ws(), ws()
    s1.subscribe(one)
    s2.subscribe(two)
    batch = [
        {"name": "first", "channel": one, "data": "1"},
        {"name": "second", "channel": two, "data": "2"},
        {"name": "third", "channel": one, "data": "3"},
    ]
    response = api.post("/batch_events", {"batch": batch})
    assert response.status == 200, response
    assert response.json() == {}
    assert s1.recv().raw == {"event": "first", "channel": one, "data": "1"}
    assert s1.recv().raw == {"event": "third", "channel": one, "data": "3"}
    assert s2.recv().raw == {"event": "second", "channel": two, "data": "2"}


def test_batch_of_10_with_info(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("batch-info")
    sock = ws()
    sock.subscribe(channel)
    batch: list[dict[str, Any]] = [
        {"name": f"e{i}", "channel": channel, "data": str(i)} for i in range(10)
    ]
    batch[0]["info"] = "subscription_count"
    response = api.post("/batch_events", {"batch": batch})
    assert response.status == 200, response
    result = response.json()
    assert result["batch"][0] == {"subscription_count": 1}
    assert len(result["batch"]) == 10
    assert all(item == {} for item in result["batch"][1:])
    for i in range(10):
        assert sock.expect(f"e{i}", channel).raw["data"] == str(i)


# --------------------------------------------------------------------------- rejections


def _now() -> int:
    return int(time.time())


SIGNATURE_CASES: dict[str, dict[str, Any]] = {
    "timestamp-601s-old": {"timestamp": "PAST"},
    "timestamp-601s-ahead": {"timestamp": "FUTURE"},
    "wrong-body-md5": {"body_md5": "0" * 32},
    "missing-body-md5": {"with_body_md5": False},
    "missing-signature": {"sign": False},
    "tampered-signature": {"mutate": lambda q: q.__setitem__("auth_signature", "0" * 64)},
    "unknown-auth-key": {"key": "no-such-key"},
    "wrong-secret": {"secret": "not-the-secret"},
    "other-apps-key-and-secret": {"key": OTHER_APP["key"], "secret": OTHER_APP["secret"]},
    "other-apps-key-own-secret": {"key": OTHER_APP["key"]},
    "auth-version-2": {"mutate": lambda q: q.__setitem__("auth_version", "2.0")},
}


@pytest.mark.parametrize("case", list(SIGNATURE_CASES))
def test_bad_signature_is_401_and_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str], case: str
) -> None:
    sock, channel = subscriber
    options = dict(SIGNATURE_CASES[case])
    if options.get("timestamp") == "PAST":
        options["timestamp"] = _now() - 601
    elif options.get("timestamp") == "FUTURE":
        options["timestamp"] = _now() + 601
    if case == "auth-version-2":
        # re-sign over the modified auth_version so only the version is wrong
        def mutate(q: dict[str, str]) -> None:
            q["auth_version"] = "2.0"
            q["auth_signature"] = sign_api_request(
                api.app["secret"], "POST", api.prefix + "/events", q
            )

        options["mutate"] = mutate
    response = api.post("/events", event_body(channel), **options)
    assert_error(response, 401)
    assert_received_nothing(sock, api, channel)


def test_timestamp_within_600s_is_accepted(api: Api, subscriber: tuple[PusherSocket, str]) -> None:
    sock, channel = subscriber
    for timestamp in (_now() - 590, _now() + 590):
        response = api.post(
            "/events", event_body(channel, data=str(timestamp)), timestamp=timestamp
        )
        assert response.status == 200, response
        assert sock.expect("my-event", channel).raw["data"] == str(timestamp)


def test_body_changed_after_signing_is_401(api: Api, subscriber: tuple[PusherSocket, str]) -> None:
    sock, channel = subscriber
    signed = json.dumps(event_body(channel, data="signed")).encode()
    sent = json.dumps(event_body(channel, data="forged")).encode()
    target = api.signed_target("POST", api.prefix + "/events", None, signed)
    assert_error(http_request(api.host, api.port, "POST", target, sent), 401)
    assert_received_nothing(sock, api, channel)


def test_other_apps_credentials_on_its_own_path_do_not_reach_this_app(
    api: Api, other_api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    # correctly signed for app 2002: accepted there, but app 1001's subscriber sees nothing
    response = other_api.post("/events", event_body(channel))
    assert response.status == 200, response
    assert_received_nothing(sock, api, channel)


BAD_BODIES: dict[str, Callable[[str], bytes]] = {
    "malformed-json": lambda ch: b'{"name": "e", "channel": "' + ch.encode() + b'", "data": ',
    "json-array": lambda ch: json.dumps([event_body(ch)]).encode(),
    "data-not-a-string": lambda ch: json.dumps(event_body(ch, data={"a": 1})).encode(),
    "data-missing": lambda ch: json.dumps({"name": "e", "channel": ch}).encode(),
    "name-missing": lambda ch: json.dumps({"channel": ch, "data": "x"}).encode(),
    "name-not-a-string": lambda ch: json.dumps(event_body(ch, name=5)).encode(),
    "no-channel": lambda ch: json.dumps({"name": "e", "data": "x"}).encode(),
    "channels-not-a-list": lambda ch: json.dumps(
        {"name": "e", "channels": ch, "data": "x"}
    ).encode(),
    "101-channels": lambda ch: json.dumps(
        {"name": "e", "channels": [ch] + [f"c-{i}" for i in range(100)], "data": "x"}
    ).encode(),
    "event-name-201-chars": lambda ch: json.dumps(event_body(ch, name="n" * 201)).encode(),
    "invalid-channel-in-list": lambda ch: json.dumps(
        {"name": "e", "channels": [ch, "bad channel"], "data": "x"}
    ).encode(),
    "channel-name-201-chars": lambda ch: json.dumps(
        {"name": "e", "channels": [ch, "c" * 201], "data": "x"}
    ).encode(),
    "channel-name-with-star": lambda ch: json.dumps(
        {"name": "e", "channels": [ch, "a*b"], "data": "x"}
    ).encode(),
    "empty-channel-name": lambda ch: json.dumps(
        {"name": "e", "channels": [ch, ""], "data": "x"}
    ).encode(),
    "socket-id-malformed": lambda ch: json.dumps(event_body(ch, socket_id="abc")).encode(),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_invalid_event_is_400_and_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str], case: str
) -> None:
    sock, channel = subscriber
    response = api.post("/events", BAD_BODIES[case](channel))
    assert_error(response, 400)
    assert_received_nothing(sock, api, channel)


def test_11_batch_events_is_400_and_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    batch = [{"name": "e", "channel": channel, "data": str(i)} for i in range(11)]
    assert_error(api.post("/batch_events", {"batch": batch}), 400)
    assert_received_nothing(sock, api, channel)


def test_batch_with_one_invalid_event_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    batch = [
        {"name": "e", "channel": channel, "data": "ok"},
        {"name": "e", "channel": "bad channel", "data": "x"},
    ]
    assert_error(api.post("/batch_events", {"batch": batch}), 400)
    assert_received_nothing(sock, api, channel)


def test_batch_not_a_list_is_400(api: Api) -> None:
    assert_error(api.post("/batch_events", {"batch": "nope"}), 400)
    assert_error(api.post("/batch_events", {}), 400)


def test_data_over_10kb_is_413_and_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    assert_error(api.publish(channel, "e", "x" * 10241), 413)
    assert_error(api.publish(channel, "e", "é" * 5121), 413)  # 10242 bytes, 5121 chars
    batch = [
        {"name": "e", "channel": channel, "data": "ok"},
        {"name": "e", "channel": channel, "data": "x" * 10241},
    ]
    assert_error(api.post("/batch_events", {"batch": batch}), 413)
    assert_received_nothing(sock, api, channel)


def test_body_over_the_limit_is_413_and_publishes_nothing(
    api: Api, subscriber: tuple[PusherSocket, str]
) -> None:
    sock, channel = subscriber
    # valid JSON with a small event, made huge with whitespace: only the body size is wrong
    body = json.dumps(event_body(channel)).encode()
    body = body[:-1] + b" " * (8 * 1024 * 1024) + b"}"
    target = api.signed_target("POST", api.prefix + "/events", None, body)
    response = http_request_streaming(api.host, api.port, "POST", target, body)
    assert_error(response, 413)
    assert_received_nothing(sock, api, channel)


def test_unknown_app_id_is_404(api: Api, subscriber: tuple[PusherSocket, str]) -> None:
    sock, channel = subscriber
    body = json.dumps(event_body(channel)).encode()
    response = api.request("POST", "/apps/9999/events", None, body)
    assert_error(response, 404)
    assert_received_nothing(sock, api, channel)


@pytest.mark.parametrize(
    ("method", "path", "signed"),
    [
        ("GET", "/nope", False),
        ("POST", "/nope", False),
        ("GET", "/apps/1001/nope", True),
        ("GET", "/apps/1001/channels/a/b/c", True),
        ("GET", "/apps", True),
    ],
)
def test_unknown_path_is_404(api: Api, method: str, path: str, signed: bool) -> None:
    if signed:
        response = api.request(method, path)
    else:
        response = http_request(api.host, api.port, method, path)
    assert_error(response, 404)


def test_wrong_method_is_405(api: Api, subscriber: tuple[PusherSocket, str]) -> None:
    sock, channel = subscriber
    assert_error(api.get("/events", {"channel": channel}), 405)
    assert_error(api.post("/channels", event_body(channel)), 405)
    assert_received_nothing(sock, api, channel)


# --------------------------------------------------------------------------- queries


def test_channels_lists_occupied_channels_with_prefix_filter(
    api: Api, ws: Callable[..., PusherSocket]
) -> None:
    prefix = unique("list") + "-"
    names = [prefix + "a", prefix + "b"]
    sock = ws()
    for name in names:
        sock.subscribe(name)
    response = api.get("/channels", {"filter_by_prefix": prefix})
    assert response.status == 200, response
    assert response.json() == {"channels": {names[0]: {}, names[1]: {}}}


def test_channels_user_count_for_presence_prefix(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("presence-count")
    a, b = ws(), ws()
    a.subscribe_presence(api.app, channel, "u1")
    b.subscribe_presence(api.app, channel, "u2")
    response = api.get("/channels", {"filter_by_prefix": channel, "info": "user_count"})
    assert response.status == 200, response
    assert response.json() == {"channels": {channel: {"user_count": 2}}}


def test_channels_user_count_without_presence_prefix_is_400(api: Api) -> None:
    assert_error(api.get("/channels", {"info": "user_count"}), 400)
    assert_error(api.get("/channels", {"filter_by_prefix": "private-", "info": "user_count"}), 400)


def test_channel_info(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("one")
    assert api.channel(channel) == {"occupied": False}
    a, b = ws(), ws()
    a.subscribe(channel)
    b.subscribe(channel)
    info = api.channel(channel, "subscription_count")
    assert info == {"occupied": True, "subscription_count": 2}
    b.send_event("pusher:unsubscribe", {"channel": channel})
    b.assert_alive()
    assert api.channel(channel, "subscription_count") == {
        "occupied": True,
        "subscription_count": 1,
    }


def test_channel_info_presence_user_count(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("presence-one")
    a, b = ws(), ws()
    a.subscribe_presence(api.app, channel, "u1")
    b.subscribe_presence(api.app, channel, "u1")
    info = api.channel(channel, "user_count")
    assert info == {"occupied": True, "user_count": 1}


def test_channel_info_user_count_on_non_presence_is_400(api: Api) -> None:
    assert_error(api.get(f"/channels/{unique('public')}", {"info": "user_count"}), 400)


def test_users_of_presence_channel(api: Api, ws: Callable[..., PusherSocket]) -> None:
    channel = unique("presence-users")
    a, b, c = ws(), ws(), ws()
    a.subscribe_presence(api.app, channel, "u1")
    b.subscribe_presence(api.app, channel, 7)
    c.subscribe_presence(api.app, channel, "u1")
    response = api.get(f"/channels/{channel}/users")
    assert response.status == 200, response
    users = response.json()["users"]
    assert sorted(users, key=lambda u: u["id"]) == [{"id": "7"}, {"id": "u1"}]


def test_users_of_non_presence_channel_is_400(api: Api) -> None:
    assert_error(api.get(f"/channels/{unique('public')}/users"), 400)
    assert_error(api.get(f"/channels/{unique('private-x')}/users"), 400)


def test_get_accepts_empty_body_md5_and_no_body_md5(api: Api) -> None:
    channel = unique("md5")
    assert api.get(f"/channels/{channel}", with_body_md5=True).status == 200
    assert api.get(f"/channels/{channel}", with_body_md5=False).status == 200
    response = api.get(f"/channels/{channel}", with_body_md5=True, body_md5="0" * 32)
    assert_error(response, 401)


def test_terminate_connections(api: Api, ws: Callable[..., PusherSocket]) -> None:
    user_id = unique("user")
    first, second, bystander = ws(), ws(), ws()
    first.signin(api.app, {"id": user_id})
    second.signin(api.app, {"id": user_id})
    bystander.signin(api.app, {"id": unique("user")})
    response = api.post(f"/users/{user_id}/terminate_connections", {})
    assert response.status == 200, response
    assert response.json() == {}
    first.expect_close(4009)
    second.expect_close(4009)
    bystander.assert_alive()


def test_health(server: RunningServer, ws: Callable[..., PusherSocket]) -> None:
    ws()
    response = http_request(server.host, server.port, "GET", "/health")
    assert response.status == 200, response
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["connections"], int)
    assert body["connections"] >= 1


# --------------------------------------------------------------------------- disabled app

DISABLED_APP = {"id": "3002", "key": "disabled-key", "secret": "disabled-secret", "enabled": False}


@pytest.fixture(scope="module")
def disabled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path: Path = tmp_path_factory.mktemp("disabled")
    with realtime_server(path, [DEFAULT_APP, DISABLED_APP]) as running:
        yield running


def test_disabled_app_is_403(disabled_server: RunningServer) -> None:
    api = Api(disabled_server.host, disabled_server.port, DISABLED_APP)
    assert_error(api.publish("chan", "e", "x"), 403)
    assert_error(api.get("/channels"), 403)
