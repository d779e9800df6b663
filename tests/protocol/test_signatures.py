"""HMAC signatures: Pusher's published test vectors, the official SDK, and every failure."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pusher
import pytest

from leadcast.protocol import (
    App,
    ConfigError,
    ErrorCode,
    PusherError,
    RequestError,
    Session,
    SignatureError,
    Subscribe,
)
from leadcast.protocol import signatures as signatures_module
from leadcast.protocol.signatures import (
    AUTH_TIMESTAMP_WINDOW,
    EMPTY_BODY_MD5,
    body_md5,
    channel_auth,
    request_signature,
    sign,
    string_to_sign,
    user_auth,
    verify_auth,
    verify_request,
)

# The credentials of Pusher's documentation examples (channels auth signatures, HTTP API).
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET_ID = "1234.1234"

REST_BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
REST_TIMESTAMP = 1353088179
REST_MD5 = "ec365a775a4cd0599faeb73354201b6f"
REST_SIGNATURE = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"


# -- Pusher's test vectors ---------------------------------------------------------------------


def test_private_channel_vector() -> None:
    assert channel_auth(KEY, SECRET, SOCKET_ID, "private-foobar", None) == (
        f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )


def test_presence_channel_vector() -> None:
    # Pusher's published example signs the user "Mr. Pusher"; afaed369... is that signature.
    channel_data = '{"user_id":10,"user_info":{"name":"Mr. Pusher"}}'
    assert channel_auth(KEY, SECRET, SOCKET_ID, "presence-foobar", channel_data) == (
        f"{KEY}:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
    )


def test_user_auth_vector() -> None:
    assert user_auth(KEY, SECRET, SOCKET_ID, '{"id":"12345"}') == (
        f"{KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    )


def test_rest_vector_body_md5() -> None:
    assert body_md5(REST_BODY) == REST_MD5


def test_rest_vector_string_to_sign_and_signature() -> None:
    params = {
        "auth_key": KEY,
        "auth_timestamp": str(REST_TIMESTAMP),
        "auth_version": "1.0",
        "body_md5": REST_MD5,
    }
    assert string_to_sign("POST", "/apps/3/events", params) == (
        "POST\n/apps/3/events\n"
        f"auth_key={KEY}&auth_timestamp=1353088179&auth_version=1.0&body_md5={REST_MD5}"
    )
    assert request_signature(SECRET, "POST", "/apps/3/events", params) == REST_SIGNATURE


def test_rest_vector_verifies() -> None:
    params = {
        "auth_key": KEY,
        "auth_timestamp": str(REST_TIMESTAMP),
        "auth_version": "1.0",
        "body_md5": REST_MD5,
        "auth_signature": REST_SIGNATURE,
    }
    verify_request(
        key=KEY,
        secret=SECRET,
        method="POST",
        path="/apps/3/events",
        params=params,
        body=REST_BODY,
        now=REST_TIMESTAMP,
    )


# -- primitives --------------------------------------------------------------------------------


def test_sign_is_hex_hmac_sha256() -> None:
    expected = hmac.new(b"secret", b"message", hashlib.sha256).hexdigest()
    assert sign("secret", "message") == expected
    assert len(expected) == 64


def test_constants() -> None:
    assert AUTH_TIMESTAMP_WINDOW == 600
    assert EMPTY_BODY_MD5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert body_md5(b"") == EMPTY_BODY_MD5


def test_channel_auth_signs_socket_channel_and_data() -> None:
    assert channel_auth("k", "s", "1.2", "private-a", None) == "k:" + sign("s", "1.2:private-a")
    assert channel_auth("k", "s", "1.2", "presence-a", '{"user_id":"u"}') == "k:" + sign(
        "s", '1.2:presence-a:{"user_id":"u"}'
    )


def test_channel_auth_with_empty_channel_data_keeps_the_separator() -> None:
    assert channel_auth("k", "s", "1.2", "private-a", "") == "k:" + sign("s", "1.2:private-a:")


def test_user_auth_signs_socket_and_user_data() -> None:
    assert user_auth("k", "s", "1.2", '{"id":"u"}') == "k:" + sign("s", '1.2::user::{"id":"u"}')


def test_string_to_sign_sorts_params_upper_cases_method_and_skips_signature() -> None:
    params = {"b": "2", "auth_signature": "ignored", "a": "1", "c": "x y"}
    assert string_to_sign("get", "/p", params) == "GET\n/p\na=1&b=2&c=x y"


def test_string_to_sign_without_params() -> None:
    assert string_to_sign("POST", "/p", {}) == "POST\n/p\n"


# -- verify_auth -------------------------------------------------------------------------------


def test_verify_auth_accepts_the_expected_string() -> None:
    expected = channel_auth(KEY, SECRET, SOCKET_ID, "private-foobar", None)
    verify_auth(expected, expected)


@pytest.mark.parametrize("given", [None, "", 123, ["x"], {"auth": "x"}])
def test_verify_auth_requires_a_string(given: object) -> None:
    with pytest.raises(SignatureError, match=r"^auth is required$"):
        verify_auth("k:abc", given)


@pytest.mark.parametrize(
    "given",
    [
        f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a5",
        "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
        "other-key:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
        f"{KEY}:58DF8B0C36D6982B82C3ECF6B4662E34FE8C25BBA48F5369F135BF843651C3A4",
        f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4 ",
        "é",
    ],
)
def test_verify_auth_rejects_anything_else(given: str) -> None:
    expected = channel_auth(KEY, SECRET, SOCKET_ID, "private-foobar", None)
    with pytest.raises(SignatureError, match=r"^invalid signature$"):
        verify_auth(expected, given)


def test_exception_hierarchy() -> None:
    for error in (ConfigError, SignatureError, RequestError):
        assert issubclass(error, PusherError)
    assert issubclass(PusherError, Exception)


def test_request_error_carries_its_status() -> None:
    error = RequestError(413, "data is over 10240 bytes")
    assert (error.status, error.message, str(error)) == (
        413,
        "data is over 10240 bytes",
        "data is over 10240 bytes",
    )


def test_error_codes() -> None:
    # The codes of docs/realtime.md and the ranges pusher-js acts on.
    assert {code.name: int(code) for code in ErrorCode} == {
        "SSL_ONLY": 4000,
        "APP_NOT_FOUND": 4001,
        "APP_DISABLED": 4003,
        "OVER_CONNECTION_QUOTA": 4004,
        "PATH_NOT_FOUND": 4005,
        "INVALID_VERSION_FORMAT": 4006,
        "UNSUPPORTED_PROTOCOL": 4007,
        "NO_PROTOCOL_VERSION": 4008,
        "UNAUTHORIZED": 4009,
        "OVER_CAPACITY": 4100,
        "GENERIC_RECONNECT": 4200,
        "PONG_NOT_RECEIVED": 4201,
        "CLOSED_AFTER_INACTIVITY": 4202,
        "CLIENT_EVENT_RATE_LIMIT": 4301,
        "WATCHLIST_LIMIT": 4302,
    }


# -- the official Python SDK -------------------------------------------------------------------


@pytest.fixture
def sdk() -> pusher.Pusher:
    return pusher.Pusher(app_id="3", key=KEY, secret=SECRET, host="localhost", ssl=False)


def test_sdk_private_channel_auth_verifies(sdk: pusher.Pusher) -> None:
    answer = sdk.authenticate(channel="private-foobar", socket_id=SOCKET_ID)
    expected = channel_auth(KEY, SECRET, SOCKET_ID, "private-foobar", None)
    assert answer == {"auth": expected}
    verify_auth(expected, answer["auth"])


def test_sdk_presence_channel_auth_verifies(sdk: pusher.Pusher) -> None:
    answer = sdk.authenticate(
        channel="presence-foobar",
        socket_id=SOCKET_ID,
        custom_data={"user_id": 10, "user_info": {"name": "Mr. Channels"}},
    )
    channel_data = answer["channel_data"]
    assert json.loads(channel_data) == {"user_id": 10, "user_info": {"name": "Mr. Channels"}}
    verify_auth(
        channel_auth(KEY, SECRET, SOCKET_ID, "presence-foobar", channel_data), answer["auth"]
    )


def test_sdk_presence_auth_does_not_verify_for_another_socket(sdk: pusher.Pusher) -> None:
    answer = sdk.authenticate(
        channel="presence-foobar", socket_id=SOCKET_ID, custom_data={"user_id": "u"}
    )
    expected = channel_auth(KEY, SECRET, "1234.1235", "presence-foobar", answer["channel_data"])
    with pytest.raises(SignatureError):
        verify_auth(expected, answer["auth"])


def test_sdk_user_auth_verifies(sdk: pusher.Pusher) -> None:
    answer = sdk.authenticate_user(socket_id=SOCKET_ID, user_data={"id": "12345"})
    assert json.loads(answer["user_data"]) == {"id": "12345"}
    verify_auth(user_auth(KEY, SECRET, SOCKET_ID, answer["user_data"]), answer["auth"])


def test_sdk_rest_request_verifies(sdk: pusher.Pusher) -> None:
    request = sdk._pusher_client.trigger.make_request(["project-3"], "foo", {"some": "data"})
    params = dict(request.query_params)
    verify_request(
        key=KEY,
        secret=SECRET,
        method=request.method,
        path=request.path,
        params=params,
        body=request.body,
        now=int(params["auth_timestamp"]),
    )
    assert params["body_md5"] == body_md5(request.body)


def test_sdk_get_request_with_empty_body_md5_verifies(sdk: pusher.Pusher) -> None:
    request = sdk._pusher_client.channels_info.make_request("presence-", ["user_count"])
    params = dict(request.query_params)
    assert params["body_md5"] == EMPTY_BODY_MD5
    verify_request(
        key=KEY,
        secret=SECRET,
        method="GET",
        path=request.path,
        params=params,
        body=b"",
        now=int(params["auth_timestamp"]) + 600,
    )


# -- verify_request ----------------------------------------------------------------------------

NOW = 1_700_000_000


def signed(
    method: str = "POST",
    path: str = "/apps/1/events",
    body: bytes = b'{"name":"e"}',
    *,
    secret: str = SECRET,
    timestamp: str = str(NOW),
    **extra: str,
) -> dict[str, str]:
    params = {"auth_key": KEY, "auth_timestamp": timestamp, "auth_version": "1.0", **extra}
    if body:
        params["body_md5"] = body_md5(body)
    params["auth_signature"] = request_signature(secret, method, path, params)
    return params


def verify(
    params: dict[str, str],
    *,
    method: str = "POST",
    path: str = "/apps/1/events",
    body: bytes = b'{"name":"e"}',
    now: float = NOW,
    window: int = AUTH_TIMESTAMP_WINDOW,
) -> None:
    verify_request(
        key=KEY,
        secret=SECRET,
        method=method,
        path=path,
        params=params,
        body=body,
        now=now,
        window=window,
    )


def fails(params: dict[str, str], message: str, **kwargs: object) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(params, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_signed_request_verifies() -> None:
    verify(signed())


def test_signed_request_with_extra_params_verifies() -> None:
    params = signed("GET", "/apps/1/channels", b"", filter_by_prefix="presence-", info="user_count")
    verify(params, method="GET", path="/apps/1/channels", body=b"")


@pytest.mark.parametrize("name", ["auth_key", "auth_timestamp", "auth_version", "auth_signature"])
def test_missing_param(name: str) -> None:
    params = signed()
    del params[name]
    fails(params, f"missing {name}")


@pytest.mark.parametrize("name", ["auth_key", "auth_timestamp", "auth_version", "auth_signature"])
def test_empty_param(name: str) -> None:
    params = signed()
    params[name] = ""
    fails(params, f"missing {name}")


def test_wrong_key() -> None:
    params = signed()
    params["auth_key"] = "another-key"
    fails(params, "unknown auth_key")


@pytest.mark.parametrize("version", ["1", "2.0", "1.0 ", "1.00"])
def test_wrong_version(version: str) -> None:
    fails(signed(auth_version=version), "auth_version must be 1.0")


@pytest.mark.parametrize("timestamp", ["abc", "12.5", "0x10", "1e9"])
def test_non_integer_timestamp(timestamp: str) -> None:
    fails(signed(timestamp=timestamp), "auth_timestamp must be an integer")


@pytest.mark.parametrize("delta", [-600, -599.5, 0, 599, 600])
def test_timestamp_within_the_window(delta: float) -> None:
    verify(signed(), now=NOW + delta)


@pytest.mark.parametrize("delta", [-601, -600.5, 600.5, 601, 10**6])
def test_timestamp_outside_the_window(delta: float) -> None:
    fails(signed(), "auth_timestamp is more than 600 seconds from server time", now=NOW + delta)


def test_custom_window() -> None:
    verify(signed(), now=NOW + 30, window=30)
    fails(
        signed(), "auth_timestamp is more than 30 seconds from server time", now=NOW + 31, window=30
    )


def test_body_without_body_md5() -> None:
    params = signed(body=b"")  # signed as if there were no body
    fails(params, "body_md5 is required with a body", body=b'{"name":"e"}')


def test_body_md5_of_another_body() -> None:
    params = signed(body=b'{"name":"other"}')
    fails(params, "body_md5 does not match the body", body=b'{"name":"e"}')


def test_get_without_body_md5() -> None:
    verify(signed("GET", "/apps/1/channels", b""), method="GET", path="/apps/1/channels", body=b"")


def test_get_with_md5_of_the_empty_body() -> None:
    params = signed("GET", "/apps/1/channels", b"", body_md5=EMPTY_BODY_MD5)
    verify(params, method="GET", path="/apps/1/channels", body=b"")


def test_get_with_md5_of_a_non_empty_body() -> None:
    params = signed("GET", "/apps/1/channels", b"", body_md5=body_md5(b"{}"))
    fails(
        params,
        "body_md5 does not match the empty body",
        method="GET",
        path="/apps/1/channels",
        body=b"",
    )


def test_signature_with_another_secret() -> None:
    fails(signed(secret="not-the-secret"), "invalid auth_signature")


def test_signature_for_another_method() -> None:
    fails(signed("GET"), "invalid auth_signature", method="POST")


def test_signature_for_another_path() -> None:
    fails(signed(path="/apps/2/events"), "invalid auth_signature", path="/apps/1/events")


def test_signature_over_other_params() -> None:
    params = signed(info="user_count")
    params["info"] = "subscription_count"
    fails(params, "invalid auth_signature")


def test_tampered_signature() -> None:
    params = signed()
    params["auth_signature"] = params["auth_signature"][:-1] + (
        "0" if params["auth_signature"][-1] != "0" else "1"
    )
    fails(params, "invalid auth_signature")


def test_checks_run_in_order() -> None:
    # A request wrong in every way names the first check: the key.
    params = signed(secret="x", timestamp="abc", auth_version="2.0")
    params["auth_key"] = "nope"
    fails(params, "unknown auth_key")


# -- constant-time comparisons -----------------------------------------------------------------


class CompareDigestSpy:
    """Stands in for the ``hmac`` module inside ``signatures``; records each compare_digest."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(hmac, name)

    def compare_digest(self, a: bytes, b: bytes) -> bool:
        self.calls.append((a, b))
        return hmac.compare_digest(a, b)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CompareDigestSpy:
    recorder = CompareDigestSpy()
    monkeypatch.setattr(signatures_module, "hmac", recorder)
    return recorder


def tampered(signature: str) -> str:
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")


def session_receive(event: str, data: dict[str, Any]) -> list[Any]:
    session = Session(App("1", KEY, SECRET), SOCKET_ID, 0.0)
    return session.receive(json.dumps({"event": event, "data": data}), 0.0)


@pytest.mark.parametrize(
    ("channel", "channel_data"),
    [("private-x", None), ("presence-x", '{"user_id":"u1"}')],
)
def test_channel_auth_is_compared_in_constant_time(
    spy: CompareDigestSpy, channel: str, channel_data: str | None
) -> None:
    # A plain == would give the same answers; only the spy tells the two apart.
    good = channel_auth(KEY, SECRET, SOCKET_ID, channel, channel_data)
    for given, accepted in ((tampered(good), False), (good, True)):
        spy.calls.clear()
        data = {"channel": channel, "auth": given}
        if channel_data is not None:
            data["channel_data"] = channel_data
        effects = session_receive("pusher:subscribe", data)
        assert isinstance(effects[0], Subscribe) is accepted
        assert spy.calls == [(good.encode(), given.encode())]


def test_user_auth_is_compared_in_constant_time(spy: CompareDigestSpy) -> None:
    user_data = '{"id":"42"}'
    good = user_auth(KEY, SECRET, SOCKET_ID, user_data)
    for given, event in ((tampered(good), "pusher:error"), (good, "pusher:signin_success")):
        spy.calls.clear()
        effects = session_receive("pusher:signin", {"user_data": user_data, "auth": given})
        assert json.loads(effects[0].text)["event"] == event
        assert spy.calls == [(good.encode(), given.encode())]


def test_http_api_requests_are_compared_in_constant_time(spy: CompareDigestSpy) -> None:
    params = signed()
    verify(params)
    assert spy.calls == [
        (KEY.encode(), KEY.encode()),
        (params["body_md5"].encode(), body_md5(b'{"name":"e"}').encode()),
        (params["auth_signature"].encode(), params["auth_signature"].encode()),
    ]
    spy.calls.clear()
    bad = {**params, "auth_signature": tampered(params["auth_signature"])}
    fails(bad, "invalid auth_signature")
    assert spy.calls[-1] == (params["auth_signature"].encode(), bad["auth_signature"].encode())
