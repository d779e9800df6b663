"""The per-connection protocol state machine: text in, effects out, time passed as ``now``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from leadcast.protocol import (
    App,
    Close,
    Effect,
    Member,
    Publish,
    Send,
    Session,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from leadcast.protocol.channels import validate_channel_name
from leadcast.protocol.signatures import channel_auth, user_auth

KEY = "app-key"
SECRET = "app-secret"
SOCKET_ID = "123.456"
APP = App("1", KEY, SECRET, client_events=True)
OTHER_APP = App("2", "other-key", "other-secret", client_events=True)
CHARSET_PROBLEM = validate_channel_name("a b")

PING = '{"event":"pusher:ping","data":"{}"}'
PONG = '{"event":"pusher:pong","data":"{}"}'


# -- helpers -----------------------------------------------------------------------------------


def new_session(app: App = APP, now: float = 0.0, **limits: Any) -> Session:
    return Session(dataclasses.replace(app, **limits) if limits else app, SOCKET_ID, now)


def message(event: str, data: Any = None, channel: str | None = None) -> str:
    raw: dict[str, Any] = {"event": event}
    if channel is not None:
        raw["channel"] = channel
    if data is not None:
        raw["data"] = data
    return json.dumps(raw)


def wire(effect: Effect) -> dict[str, Any]:
    """A Send effect's message, with its (double-encoded) data decoded."""
    assert isinstance(effect, Send), effect
    decoded = json.loads(effect.text)
    if isinstance(decoded.get("data"), str):
        decoded["data"] = json.loads(decoded["data"])
    return decoded


def error(text: str, code: int | None = None) -> dict[str, Any]:
    return {"event": "pusher:error", "data": {"code": code, "message": text}}


def subscription_error(channel: str, problem: str, status: int) -> dict[str, Any]:
    return {
        "event": "pusher:subscription_error",
        "channel": channel,
        "data": {"type": "AuthError", "error": problem, "status": status},
    }


def succeeded(channel: str, data: Any = None) -> dict[str, Any]:
    return {
        "event": "pusher_internal:subscription_succeeded",
        "channel": channel,
        "data": {} if data is None else data,
    }


def auth(channel: str, channel_data: str | None = None, *, socket_id: str = SOCKET_ID) -> str:
    return channel_auth(KEY, SECRET, socket_id, channel, channel_data)


def tamper(signature: str) -> str:
    """The same string with its last hex digit changed."""
    return signature[:-1] + ("1" if signature[-1] == "0" else "0")


def subscribe(
    session: Session,
    channel: Any,
    *,
    auth: str | None = None,
    channel_data: Any = None,
    now: float = 0.0,
) -> list[Effect]:
    data: dict[str, Any] = {"channel": channel}
    if auth is not None:
        data["auth"] = auth
    if channel_data is not None:
        data["channel_data"] = channel_data
    return session.receive(message("pusher:subscribe", data), now)


def join(session: Session, channel: str, **kwargs: Any) -> Member | None:
    """Subscribe through to ``subscribed``, as the node does; return the member."""
    [effect] = subscribe(session, channel, **kwargs)
    assert isinstance(effect, Subscribe), effect
    [confirmation] = session.subscribed(channel, effect.member)
    assert wire(confirmation)["event"] == "pusher_internal:subscription_succeeded"
    return effect.member


def presence_data(user_id: Any, user_info: Any = None) -> str:
    raw: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        raw["user_info"] = user_info
    return json.dumps(raw, separators=(",", ":"))


def signin(session: Session, user_data: str, *, now: float = 0.0) -> list[Effect]:
    data = {"user_data": user_data, "auth": user_auth(KEY, SECRET, SOCKET_ID, user_data)}
    return session.receive(message("pusher:signin", data), now)


def signed_in(session: Session, user_id: str = "42", **fields: Any) -> SignIn:
    effects = signin(session, json.dumps({"id": user_id, **fields}))
    assert isinstance(effects[-1], SignIn)
    return effects[-1]


# -- lifecycle ---------------------------------------------------------------------------------


def test_initial_state() -> None:
    session = new_session(now=50.0)
    assert (session.app, session.socket_id) == (APP, SOCKET_ID)
    assert (session.last_activity, session.ping_sent_at) == (50.0, None)
    assert (session.channels, session.user, session.closed) == ({}, None, False)


def test_established_payload() -> None:
    session = new_session(activity_timeout=60)
    assert session.established() == [
        Send(
            '{"event":"pusher:connection_established",'
            '"data":"{\\"socket_id\\":\\"123.456\\",\\"activity_timeout\\":60}"}'
        )
    ]


def test_ping_is_answered_with_pong() -> None:
    assert new_session().receive('{"event":"pusher:ping","data":{}}', 1.0) == [Send(PONG)]


def test_ping_without_data() -> None:
    assert new_session().receive('{"event":"pusher:ping"}', 1.0) == [Send(PONG)]


def test_pong_needs_no_answer() -> None:
    assert new_session().receive('{"event":"pusher:pong","data":{}}', 1.0) == []


# -- keep-alive --------------------------------------------------------------------------------

CLOSE_4201 = [
    Send(
        '{"event":"pusher:error",'
        '"data":"{\\"code\\":4201,\\"message\\":\\"Pong reply not received\\"}"}'
    ),
    Close(4201, "Pong reply not received"),
]


def test_server_ping_after_activity_timeout_then_close_4201() -> None:
    session = new_session(activity_timeout=120, pong_timeout=30)
    steps: list[tuple[float, list[Effect]]] = [
        (60.0, []),
        (119.9, []),
        (120.0, [Send(PING)]),
        (121.0, []),
        (149.9, []),
        (150.0, CLOSE_4201),
        (151.0, []),
        (500.0, []),
    ]
    for now, effects in steps:
        assert session.tick(now) == effects, now
    assert session.closed is True
    assert session.receive(message("pusher:ping"), 501.0) == []


def test_ping_is_sent_once_until_answered() -> None:
    session = new_session(activity_timeout=10, pong_timeout=5)
    assert session.tick(10.0) == [Send(PING)]
    assert session.ping_sent_at == 10.0
    assert [session.tick(now) for now in (11.0, 12.0, 14.9)] == [[], [], []]


@pytest.mark.parametrize(
    "answer",
    [
        lambda session, now: session.receive(message("pusher:pong", {}), now),
        lambda session, now: session.receive(message("pusher:ping", {}), now),
        lambda session, now: session.receive("not json", now),
        lambda session, now: session.activity(now),
    ],
    ids=["pusher:pong", "pusher:ping", "bad message", "control frame"],
)
def test_answering_resets_the_timers(answer: Any) -> None:
    session = new_session(activity_timeout=120, pong_timeout=30)
    assert session.tick(120.0) == [Send(PING)]
    answer(session, 140.0)
    assert (session.last_activity, session.ping_sent_at) == (140.0, None)
    assert session.tick(170.0) == []  # pong_timeout after the ping: no close
    assert session.tick(259.9) == []
    assert session.tick(260.0) == [Send(PING)]
    assert session.tick(290.0) == CLOSE_4201


def test_any_message_counts_as_activity() -> None:
    session = new_session(activity_timeout=120)
    assert subscribe(session, "leads", now=100.0) == [Subscribe("leads")]
    assert session.tick(120.0) == []
    assert session.tick(219.0) == []
    assert session.tick(220.0) == [Send(PING)]


# -- flood protection --------------------------------------------------------------------------

# 4100: pusher-js backs off a second and reconnects; a 43xx close would make it give up.
CLOSE_4100 = [
    Send(
        '{"event":"pusher:error","data":"{\\"code\\":4100,\\"message\\":\\"Too many messages\\"}"}'
    ),
    Close(4100, "Too many messages"),
]


def test_burst_of_200_is_allowed_and_the_201st_closes_4100() -> None:
    session = new_session()
    pong = message("pusher:pong", {})
    for _ in range(200):
        assert session.receive(pong, 5.0) == []
    assert session.receive(pong, 5.0) == CLOSE_4100
    assert session.closed is True
    assert session.receive(message("pusher:ping"), 100.0) == []
    assert session.tick(1000.0) == []


def test_burst_refills_at_100_per_second() -> None:
    session = new_session()
    pong = message("pusher:pong", {})
    for _ in range(200):
        assert session.receive(pong, 0.0) == []
    for _ in range(50):  # half a second later: 50 more
        assert session.receive(pong, 0.5) == []
    assert session.receive(pong, 0.5) == CLOSE_4100


def test_100_per_second_sustained_is_fine() -> None:
    session = new_session()
    for index in range(2000):
        assert session.receive(message("pusher:pong", {}), index / 100) == []
    assert session.closed is False


def test_150_per_second_sustained_closes() -> None:
    session = new_session()
    for index in range(2000):
        effects = session.receive(message("pusher:pong", {}), index / 150)
        if effects:
            break
    assert effects == CLOSE_4100
    # 200 of burst, drained at 50 per second: about 600 messages in.
    assert 590 <= index <= 610


def drain_burst(session: Session, now: float = 0.0) -> None:
    """Use up the whole flood burst; the next counted message closes."""
    for _ in range(200):
        assert session.receive(message("pusher:pong", {}), now) == []


def test_new_subscriptions_do_not_count_toward_the_flood_limit() -> None:
    # pusher-js resubscribes every channel at once after each connect.
    session = new_session()
    for index in range(300):
        assert subscribe(session, f"leads-{index}") == [Subscribe(f"leads-{index}")]
    signed_in(session, "42")
    assert wire(subscribe(session, "#server-to-user-42")[0]) == succeeded("#server-to-user-42")
    assert len(session.channels) + len(session._pending) == 301
    # the burst is still whole: 199 more messages (the sign-in took one) and the next closes
    for _ in range(199):
        assert session.receive(message("pusher:pong", {}), 0.0) == []
    assert session.receive(message("pusher:pong", {}), 0.0) == CLOSE_4100


def test_new_subscriptions_are_free_once_the_burst_is_used_up() -> None:
    session = new_session()
    drain_burst(session)
    assert subscribe(session, "leads") == [Subscribe("leads")]
    assert session.closed is False


@pytest.mark.parametrize(
    "repeat",
    [
        lambda session: subscribe(session, "a b"),  # invalid name
        lambda session: subscribe(session, "private-x", auth=tamper(auth("private-x"))),
        lambda session: subscribe(
            session, "presence-r", auth=auth("presence-r", "[1]"), channel_data="[1]"
        ),
        lambda session: subscribe(session, "#server-to-user-7"),  # someone else's
        lambda session: session.receive(message("pusher:subscribe", [1]), 0.0),
        lambda session: subscribe(session, "held"),  # already subscribed
        lambda session: subscribe(session, "pending"),  # already pending
        lambda session: subscribe(session, "#server-to-user-42"),  # already subscribed
        lambda session: session.receive(message("pusher:unsubscribe", {"channel": "x"}), 0.0),
    ],
    ids=[
        "invalid-name",
        "bad-auth",
        "bad-channel-data",
        "other-user-channel",
        "malformed",
        "repeated",
        "repeated-pending",
        "repeated-user-channel",
        "unsubscribe",
    ],
)
def test_subscriptions_that_add_no_channel_count(repeat: Any) -> None:
    session = new_session()
    join(session, "held")
    subscribe(session, "pending")
    signed_in(session, "42")
    subscribe(session, "#server-to-user-42")
    held = (dict(session.channels), set(session._pending))
    for _ in range(199):  # the sign-in took one token
        assert not any(isinstance(effect, Close) for effect in repeat(session))
    assert repeat(session) == CLOSE_4100
    assert (session.channels, session._pending) == held


def test_churning_subscriptions_is_limited_by_the_unsubscribes() -> None:
    session = new_session()
    for index in range(1000):
        effects = subscribe(session, "leads", now=index / 1000)
        if effects == CLOSE_4100:
            break
        assert effects == [Subscribe("leads")]
        session.subscribed("leads", None)
        effects = session.receive(message("pusher:unsubscribe", {"channel": "leads"}), index / 1000)
        if effects == CLOSE_4100:
            break
    # 1000 pairs per second: the unsubscribes alone drain the burst at 900 per second.
    assert session.closed is True
    assert 200 <= index <= 230


def test_a_subscription_the_node_refuses_counts() -> None:
    session = new_session()
    data = presence_data("u1")
    signature = auth("presence-r", data)
    for _ in range(200):
        [effect] = subscribe(session, "presence-r", auth=signature, channel_data=data)
        assert isinstance(effect, Subscribe)
        assert len(session.subscribe_failed("presence-r", "full", 403)) == 2
    subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert session.subscribe_failed("presence-r", "full", 403) == CLOSE_4100
    assert (session.channels, session._pending) == ({}, set())


def test_subscribe_failed_after_close_is_ignored() -> None:
    session = new_session()
    data = presence_data("u1")
    subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    session.close_effects()
    assert session.subscribe_failed("presence-r", "full", 403) == []
    assert session._pending == set()


# -- channels per connection -------------------------------------------------------------------

CHANNELS_PROBLEM = "a connection may hold at most 3 channels"


def test_channels_per_connection_default() -> None:
    session = new_session()
    for index in range(1000):
        assert subscribe(session, f"leads-{index}") == [Subscribe(f"leads-{index}")]
    effects = subscribe(session, "one-too-many")
    assert [wire(effect) for effect in effects] == [
        error(
            "Subscription to 'one-too-many' refused: a connection may hold at most 1000 channels"
        ),
        subscription_error("one-too-many", "a connection may hold at most 1000 channels", 403),
    ]


def test_channels_per_connection_follow_the_app_and_count_pending_ones() -> None:
    session = new_session(max_channels_per_connection=3)
    join(session, "a")
    join(session, "private-b", auth=auth("private-b"))
    assert subscribe(session, "c") == [Subscribe("c")]  # pending
    effects = subscribe(session, "d")
    assert [wire(effect) for effect in effects] == [
        error(f"Subscription to 'd' refused: {CHANNELS_PROBLEM}"),
        subscription_error("d", CHANNELS_PROBLEM, 403),
    ]
    assert (set(session.channels), session._pending) == ({"a", "private-b"}, {"c"})
    assert session.closed is False
    # a channel it holds is still confirmed again
    assert subscribe(session, "a") == [Subscribe("a")]
    # leaving one makes room
    session.receive(message("pusher:unsubscribe", {"channel": "a"}), 0.0)
    assert subscribe(session, "d") == [Subscribe("d")]


def test_the_user_channel_counts_toward_the_channels_per_connection() -> None:
    session = new_session(max_channels_per_connection=1)
    signed_in(session, "42")
    join(session, "leads")
    effects = subscribe(session, "#server-to-user-42")
    assert [wire(effect) for effect in effects][1] == subscription_error(
        "#server-to-user-42", "a connection may hold at most 1 channels", 403
    )
    assert session.channels == {"leads": None}


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "message is not valid JSON"),
        ("[]", "message must be a JSON object"),
        ('{"data":{}}', "message needs a string 'event'"),
        ('{"event":"client-x","channel":5}', "'channel' must be a string"),
        ('{"event":"pusher:subscribe"}', "pusher:subscribe: data must be an object"),
        ('{"event":"pusher:subscribe","data":"{"}', "pusher:subscribe: data is not valid JSON"),
        ('{"event":"pusher:unsubscribe","data":[1]}', "pusher:unsubscribe: data must be an object"),
        ('{"event":"pusher:signin","data":7}', "pusher:signin: data must be an object"),
    ],
)
def test_invalid_messages_get_an_error_and_the_connection_stays(text: str, problem: str) -> None:
    session = new_session()
    [effect] = session.receive(text, 1.0)
    assert wire(effect) == error(f"Invalid message: {problem}")
    assert session.closed is False
    assert session.receive(message("pusher:ping"), 2.0) == [Send(PONG)]


@pytest.mark.parametrize("event", ["pusher:unknown", "my-event", "pusher_internal:member_added"])
def test_unsupported_events(event: str) -> None:
    [effect] = new_session().receive(message(event, {}), 1.0)
    assert wire(effect) == error(f"Unsupported event {event!r}")


def test_unsupported_event_name_is_cut_to_100_characters() -> None:
    [effect] = new_session().receive(message("x" * 500), 1.0)
    assert wire(effect) == error(f"Unsupported event {'x' * 100!r}")


# -- subscribing -------------------------------------------------------------------------------


def test_public_subscription() -> None:
    session = new_session()
    assert subscribe(session, "leads") == [Subscribe("leads", None)]
    assert session.channels == {}  # only after the node confirms
    assert session.subscribed("leads", None) == [
        Send('{"event":"pusher_internal:subscription_succeeded","channel":"leads","data":"{}"}')
    ]
    assert session.channels == {"leads": None}


def test_subscribe_data_may_be_a_json_string() -> None:
    text = message("pusher:subscribe", json.dumps({"channel": "leads"}))
    assert new_session().receive(text, 0.0) == [Subscribe("leads")]


@pytest.mark.parametrize(
    "channel",
    ["private-a", "private-encrypted-a", "private-cache-a", "private-encrypted-cache-a"],
)
def test_private_and_encrypted_subscription(channel: str) -> None:
    assert subscribe(new_session(), channel, auth=auth(channel)) == [Subscribe(channel, None)]


def test_public_cache_channel_needs_no_auth() -> None:
    assert subscribe(new_session(), "cache-a") == [Subscribe("cache-a")]


def test_private_channel_data_is_part_of_the_signature() -> None:
    session = new_session()
    signature = auth("private-a", "extra")
    assert subscribe(session, "private-a", auth=signature, channel_data="extra") == [
        Subscribe("private-a")
    ]


@pytest.mark.parametrize("channel", ["presence-room", "presence-cache-room"])
def test_presence_subscription(channel: str) -> None:
    data = presence_data("u1", {"name": "Zoë"})
    effects = subscribe(new_session(), channel, auth=auth(channel, data), channel_data=data)
    assert effects == [Subscribe(channel, Member("u1", {"name": "Zoë"}))]


def test_presence_numeric_user_id_becomes_a_string() -> None:
    data = presence_data(10, {"name": "Mr. Pusher"})
    effects = subscribe(
        new_session(), "presence-r", auth=auth("presence-r", data), channel_data=data
    )
    assert effects == [Subscribe("presence-r", Member("10", {"name": "Mr. Pusher"}))]


def test_presence_without_user_info() -> None:
    data = presence_data("u1")
    effects = subscribe(
        new_session(), "presence-r", auth=auth("presence-r", data), channel_data=data
    )
    assert effects == [Subscribe("presence-r", Member("u1", None))]


def test_presence_subscription_succeeded_carries_the_snapshot() -> None:
    session = new_session()
    member = Member("u1", {"name": "A"})
    snapshot = {"ids": ["u1"], "hash": {"u1": {"name": "A"}}, "count": 1}
    [effect] = session.subscribed("presence-r", member, snapshot)
    assert wire(effect) == succeeded("presence-r", {"presence": snapshot})
    assert session.channels == {"presence-r": member}


@pytest.mark.parametrize(
    "channel", ["private-a", "private-encrypted-a", "presence-r", "private-cache-a"]
)
@pytest.mark.parametrize(
    ("make_auth", "problem"),
    [
        (lambda channel, data: None, "auth is required"),
        (lambda channel, data: "", "auth is required"),
        (lambda channel, data: 42, "auth is required"),
        (lambda channel, data: tamper(auth(channel, data)), "invalid signature"),
        (lambda channel, data: auth(channel, data, socket_id="123.457"), "invalid signature"),
        (lambda channel, data: auth("private-other", data), "invalid signature"),
        (
            lambda channel, data: channel_auth(
                "other-key", "other-secret", SOCKET_ID, channel, data
            ),
            "invalid signature",
        ),
        (
            lambda channel, data: "other-key" + auth(channel, data)[len(KEY) :],
            "invalid signature",
        ),
        (lambda channel, data: auth(channel, data).split(":")[1], "invalid signature"),
    ],
    ids=[
        "missing",
        "empty",
        "not a string",
        "tampered",
        "other socket",
        "other channel",
        "other app",
        "other key, our secret",
        "no key",
    ],
)
def test_bad_auth(channel: str, make_auth: Any, problem: str) -> None:
    session = new_session()
    data = presence_data("u1") if channel.startswith("presence-") else None
    given = make_auth(channel, data)
    payload: dict[str, Any] = {"channel": channel}
    if given is not None:
        payload["auth"] = given
    if data is not None:
        payload["channel_data"] = data
    effects = session.receive(message("pusher:subscribe", payload), 0.0)
    assert [wire(effect) for effect in effects] == [
        error(f"Invalid auth for {channel}: {problem}", 4009),
        subscription_error(channel, f"Invalid auth: {problem}", 401),
    ]
    assert session.channels == {}
    # Not left pending: a correct retry subscribes.
    [retry] = subscribe(session, channel, auth=auth(channel, data), channel_data=data)
    assert isinstance(retry, Subscribe)


def test_auth_signed_by_the_other_app_for_its_own_key() -> None:
    session = new_session()
    given = channel_auth(OTHER_APP.key, OTHER_APP.secret, SOCKET_ID, "private-a", None)
    effects = subscribe(session, "private-a", auth=given)
    assert [wire(effect)["event"] for effect in effects] == [
        "pusher:error",
        "pusher:subscription_error",
    ]
    assert wire(effects[0])["data"]["code"] == 4009


@pytest.mark.parametrize(
    "channel",
    [
        "a b",
        "#leads",
        "x" * 201,
        "private-a/b",
        "presence-é",
        "#server-to-user-",
        "#server-to-user-a b",
    ],
)
def test_invalid_channel_names(channel: str) -> None:
    session = new_session()
    problem = validate_channel_name(channel)
    assert problem is not None
    assert [wire(effect) for effect in subscribe(session, channel)] == [
        error(f"Subscription to {channel!r} refused: {problem}"),
        subscription_error(channel, problem, 400),
    ]
    assert session.channels == {}


@pytest.mark.parametrize("channel", ["", None, 5, ["leads"]])
def test_channel_that_is_not_a_non_empty_string(channel: Any) -> None:
    session = new_session()
    text = message("pusher:subscribe", {"channel": channel} if channel is not None else {})
    problem = "channel name must be a non-empty string"
    assert [wire(effect) for effect in session.receive(text, 0.0)] == [
        error(f"Subscription to '' refused: {problem}"),
        subscription_error("", problem, 400),
    ]


@pytest.mark.parametrize("channel", ["private-a", "presence-r"])
@pytest.mark.parametrize("channel_data", [{"user_id": "u1"}, 5, ["x"], True])
def test_channel_data_must_be_a_string(channel: str, channel_data: Any) -> None:
    session = new_session()
    effects = subscribe(session, channel, auth=auth(channel), channel_data=channel_data)
    assert [wire(effect) for effect in effects] == [
        error(f"Subscription to {channel!r} refused: channel_data must be a string"),
        subscription_error(channel, "channel_data must be a string", 400),
    ]


USER_ID_PROBLEM = "channel_data needs a user_id (string or number)"


@pytest.mark.parametrize(
    ("channel_data", "problem"),
    [
        ("not json", "channel_data is not valid JSON"),
        ("", "channel_data is not valid JSON"),
        ("[1]", "channel_data must be a JSON object"),
        ('"u1"', "channel_data must be a JSON object"),
        ("{}", USER_ID_PROBLEM),
        ('{"user_id":null}', USER_ID_PROBLEM),
        ('{"user_id":true}', USER_ID_PROBLEM),
        ('{"user_id":1.5}', USER_ID_PROBLEM),
        ('{"user_id":["u"]}', USER_ID_PROBLEM),
        ('{"user_id":{"id":1}}', USER_ID_PROBLEM),
        ('{"user_id":""}', "user_id must be 1-128 characters"),
        (json.dumps({"user_id": "u" * 129}), "user_id must be 1-128 characters"),
        (json.dumps({"user_id": 10**128}), "user_id must be 1-128 characters"),
    ],
)
def test_presence_channel_data_errors(channel_data: str, problem: str) -> None:
    session = new_session()
    effects = subscribe(
        session,
        "presence-r",
        auth=auth("presence-r", channel_data),
        channel_data=channel_data,
    )
    assert [wire(effect) for effect in effects] == [
        error(f"Subscription to 'presence-r' refused: {problem}"),
        subscription_error("presence-r", problem, 400),
    ]
    assert session.channels == {}


def test_user_id_of_the_maximum_length() -> None:
    data = presence_data("u" * 128)
    effects = subscribe(
        new_session(), "presence-r", auth=auth("presence-r", data), channel_data=data
    )
    assert effects == [Subscribe("presence-r", Member("u" * 128))]


def test_user_id_length_follows_the_app() -> None:
    data = presence_data("abcd")
    session = new_session(max_user_id_length=3)
    effects = subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert [wire(effect) for effect in effects][1] == subscription_error(
        "presence-r", "user_id must be 1-3 characters", 400
    )


def test_user_info_size_limit() -> None:
    # Compact JSON of a string of n ASCII characters is n + 2 bytes.
    fits = presence_data("u1", "x" * 1022)
    too_big = presence_data("u1", "x" * 1023)
    session = new_session()
    assert subscribe(session, "presence-r", auth=auth("presence-r", fits), channel_data=fits) == [
        Subscribe("presence-r", Member("u1", "x" * 1022))
    ]
    effects = subscribe(
        new_session(), "presence-r", auth=auth("presence-r", too_big), channel_data=too_big
    )
    assert [wire(effect) for effect in effects] == [
        error("Subscription to 'presence-r' refused: user_info is over 1024 bytes"),
        subscription_error("presence-r", "user_info is over 1024 bytes", 400),
    ]


def test_presence_without_channel_data_when_not_signed_in() -> None:
    session = new_session()
    effects = subscribe(session, "presence-r", auth=auth("presence-r"))
    problem = "presence channels need channel_data (or a signed-in connection)"
    assert [wire(effect) for effect in effects] == [
        error(f"Subscription to 'presence-r' refused: {problem}"),
        subscription_error("presence-r", problem, 400),
    ]


def test_signed_in_presence_without_channel_data() -> None:
    session = new_session()
    signed_in(session, "42", user_info={"name": "Ann"})
    assert subscribe(session, "presence-r", auth=auth("presence-r")) == [
        Subscribe("presence-r", Member("42", {"name": "Ann"}))
    ]


def test_signed_in_presence_user_info_size_limit() -> None:
    # Sign-in takes any user_info (only presence uses it); joining a presence channel as the
    # signed-in user applies the presence limit, as channel_data does.
    fits = {"user_info": "x" * 1022}  # compact JSON: 1024 bytes
    session = new_session()
    signed_in(session, "42", **fits)
    assert subscribe(session, "presence-r", auth=auth("presence-r")) == [
        Subscribe("presence-r", Member("42", "x" * 1022))
    ]
    session = new_session()
    user = signed_in(session, "42", user_info="x" * 8192)
    assert user.user_info == "x" * 8192
    effects = subscribe(session, "presence-r", auth=auth("presence-r"))
    problem = "the signed-in user's user_info is over 1024 bytes"
    assert [wire(effect) for effect in effects] == [
        error(f"Subscription to 'presence-r' refused: {problem}"),
        subscription_error("presence-r", problem, 400),
    ]
    assert (session.channels, session._pending, session.closed) == ({}, set(), False)
    # the same user joins with channel_data that fits
    data = presence_data("42", {"name": "Ann"})
    effects = subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert effects == [Subscribe("presence-r", Member("42", {"name": "Ann"}))]


def test_signed_in_presence_user_info_limit_follows_the_app() -> None:
    session = new_session(max_presence_user_info_bytes=12)
    signed_in(session, "42", user_info={"name": "Ann Lee"})  # {"name":"Ann Lee"}: 18 bytes
    effects = subscribe(session, "presence-r", auth=auth("presence-r"))
    assert [wire(effect) for effect in effects][1] == subscription_error(
        "presence-r", "the signed-in user's user_info is over 12 bytes", 400
    )


def test_signed_in_presence_with_channel_data_uses_the_channel_data() -> None:
    session = new_session()
    signed_in(session, "42")
    data = presence_data("7", {"name": "Other"})
    effects = subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert effects == [Subscribe("presence-r", Member("7", {"name": "Other"}))]


# -- the signed-in user's own channel ----------------------------------------------------------

USER_CHANNEL_PROBLEM = "only the signed-in user may subscribe to their channel"


def test_user_channel_for_the_signed_in_user() -> None:
    session = new_session()
    signed_in(session, "42")
    assert [wire(effect) for effect in subscribe(session, "#server-to-user-42")] == [
        succeeded("#server-to-user-42")
    ]
    assert session.channels == {"#server-to-user-42": None}


@pytest.mark.parametrize("signed_in_as", [None, "4", "420", "43"])
def test_user_channel_of_someone_else(signed_in_as: str | None) -> None:
    # docs/realtime.md: a failed subscription's subscription_error has status 401, except
    # 400 for an invalid name or channel_data and 403 for a full presence channel.
    session = new_session()
    if signed_in_as is not None:
        signed_in(session, signed_in_as)
    assert [wire(effect) for effect in subscribe(session, "#server-to-user-42")] == [
        error(f"Subscription to '#server-to-user-42' refused: {USER_CHANNEL_PROBLEM}"),
        subscription_error("#server-to-user-42", USER_CHANNEL_PROBLEM, 401),
    ]
    assert session.channels == {}


def test_leaving_the_user_channel_needs_no_shared_state() -> None:
    session = new_session()
    signed_in(session, "42")
    subscribe(session, "#server-to-user-42")
    assert (
        session.receive(message("pusher:unsubscribe", {"channel": "#server-to-user-42"}), 1) == []
    )
    assert session.channels == {}


# -- duplicates, failures, unsubscribing -------------------------------------------------------


def test_duplicate_subscribe_is_confirmed_again_with_the_same_member() -> None:
    # The node answers a repeated Subscribe with subscription_succeeded (and, on presence
    # channels, the current snapshot) without changing anything.
    session = new_session()
    join(session, "leads")
    assert subscribe(session, "leads") == [Subscribe("leads", None)]
    data = presence_data("u1", {"n": 1})
    member = join(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    other = presence_data("u2")
    # Already subscribed: neither auth nor channel_data is looked at again.
    assert subscribe(session, "presence-r", auth="bad", channel_data=other) == [
        Subscribe("presence-r", member)
    ]
    assert session.channels == {"leads": None, "presence-r": member}


def test_duplicate_subscribe_while_pending_is_ignored() -> None:
    session = new_session()
    assert subscribe(session, "private-a", auth=auth("private-a")) == [Subscribe("private-a")]
    assert subscribe(session, "private-a", auth=auth("private-a")) == []
    assert subscribe(session, "private-a", auth="bad") == []
    assert session.channels == {}


def test_duplicate_subscribe_to_the_user_channel() -> None:
    session = new_session()
    signed_in(session, "42")
    subscribe(session, "#server-to-user-42")
    assert [wire(effect) for effect in subscribe(session, "#server-to-user-42")] == [
        succeeded("#server-to-user-42")
    ]
    assert session.channels == {"#server-to-user-42": None}


def test_subscribe_failed_reports_and_clears_the_pending_channel() -> None:
    session = new_session()
    data = presence_data("u1")
    subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    effects = session.subscribe_failed("presence-r", "presence channel is full (1 members)", 403)
    assert [wire(effect) for effect in effects] == [
        error("Subscription to 'presence-r' refused: presence channel is full (1 members)"),
        subscription_error("presence-r", "presence channel is full (1 members)", 403),
    ]
    assert session.channels == {}
    [retry] = subscribe(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert retry == Subscribe("presence-r", Member("u1"))


def test_subscribed_after_close_is_ignored() -> None:
    session = new_session()
    subscribe(session, "leads")
    session.close_effects()
    assert session.subscribed("leads", None) == []
    assert session.channels == {}


def test_unsubscribe() -> None:
    session = new_session()
    data = presence_data("u1", {"n": 1})
    join(session, "leads")
    member = join(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert member == Member("u1", {"n": 1})
    unsubscribe = message("pusher:unsubscribe", {"channel": "presence-r"})
    assert session.receive(unsubscribe, 1.0) == [Unsubscribe("presence-r", member)]
    assert session.channels == {"leads": None}
    assert session.receive(message("pusher:unsubscribe", {"channel": "leads"}), 1.0) == [
        Unsubscribe("leads", None)
    ]
    assert session.channels == {}


@pytest.mark.parametrize("data", [{"channel": "never-joined"}, {"channel": 5}, {}])
def test_unsubscribe_from_something_not_subscribed(data: dict[str, Any]) -> None:
    session = new_session()
    join(session, "leads")
    assert session.receive(message("pusher:unsubscribe", data), 1.0) == []
    assert session.channels == {"leads": None}


def test_close_effects_unsubscribe_everything() -> None:
    session = new_session()
    data = presence_data("u1")
    join(session, "leads")
    member = join(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert session.close_effects() == [
        Unsubscribe("leads", None),
        Unsubscribe("presence-r", member),
    ]
    assert (session.channels, session.closed) == ({}, True)
    assert session.close_effects() == []
    assert session.receive(message("pusher:ping"), 1.0) == []
    assert session.tick(10_000.0) == []


# -- client events -----------------------------------------------------------------------------


def send_client_event(
    session: Session,
    channel: str | None,
    data: Any = None,
    *,
    event: str = "client-typing",
    now: float = 0.0,
) -> list[Effect]:
    return session.receive(message(event, data, channel), now)


def test_client_events_disabled_for_the_app() -> None:
    session = new_session(client_events=False)
    join(session, "private-a", auth=auth("private-a"))
    [effect] = send_client_event(session, "private-a", {"x": 1})
    assert wire(effect) == error("Client events are not enabled for this app")


@pytest.mark.parametrize("channel", [None, "private-a", "private-b"])
def test_client_event_when_not_subscribed(channel: str | None) -> None:
    session = new_session()
    join(session, "private-b", auth=auth("private-b"))
    if channel == "private-b":
        session.receive(message("pusher:unsubscribe", {"channel": "private-b"}), 0.0)
    [effect] = send_client_event(session, channel, {"x": 1})
    assert wire(effect) == error("Client event 'client-typing' rejected: not subscribed")


def test_client_event_while_subscription_is_pending() -> None:
    session = new_session()
    subscribe(session, "private-a", auth=auth("private-a"))
    [effect] = send_client_event(session, "private-a", {"x": 1})
    assert wire(effect) == error("Client event 'client-typing' rejected: not subscribed")


@pytest.mark.parametrize("channel", ["leads", "cache-leads", "private-encrypted-a"])
def test_client_events_rejected_on_public_and_encrypted_channels(channel: str) -> None:
    session = new_session()
    join(session, channel, auth=auth(channel))
    [effect] = send_client_event(session, channel, {"x": 1})
    assert wire(effect) == error(
        "Client event 'client-typing' rejected: only private and presence channels take "
        "client events"
    )


def test_client_events_rejected_on_the_user_channel() -> None:
    session = new_session()
    signed_in(session, "42")
    subscribe(session, "#server-to-user-42")
    [effect] = send_client_event(session, "#server-to-user-42", {"x": 1})
    assert wire(effect)["data"]["message"].endswith(
        "only private and presence channels take client events"
    )


def test_client_event_on_a_private_channel() -> None:
    session = new_session()
    join(session, "private-a", auth=auth("private-a"))
    # docs/realtime.md: data arrives as a JSON string whatever shape the sender used.
    assert send_client_event(session, "private-a", {"x": 1}) == [
        Publish(
            "private-a",
            '{"event":"client-typing","channel":"private-a","data":"{\\"x\\":1}"}',
        )
    ]


def test_client_event_keeps_string_data_as_a_string() -> None:
    session = new_session()
    join(session, "private-cache-a", auth=auth("private-cache-a"))
    assert send_client_event(session, "private-cache-a", '{"x":1}') == [
        Publish(
            "private-cache-a",
            '{"event":"client-typing","channel":"private-cache-a","data":"{\\"x\\":1}"}',
        )
    ]


def test_client_event_on_a_presence_channel_carries_the_user_id() -> None:
    session = new_session()
    data = presence_data(7, {"name": "Ann"})
    join(session, "presence-r", auth=auth("presence-r", data), channel_data=data)
    assert send_client_event(session, "presence-r", {"x": 1}) == [
        Publish(
            "presence-r",
            '{"event":"client-typing","channel":"presence-r","data":"{\\"x\\":1}","user_id":"7"}',
        )
    ]


def test_client_event_name_length() -> None:
    session = new_session()
    join(session, "private-a", auth=auth("private-a"))
    longest = "client-" + "x" * 193
    assert len(longest) == 200
    [ok] = send_client_event(session, "private-a", {}, event=longest)
    assert isinstance(ok, Publish)
    [effect] = send_client_event(session, "private-a", {}, event=longest + "x")
    assert wire(effect) == error("Client event name too long")


RATE_ERROR = error("Client event rejected: over 10 per second", 4301)


def test_client_event_rate_limit_within_a_one_second_window() -> None:
    session = new_session(now=0.0)
    join(session, "private-a", auth=auth("private-a"))
    for index in range(10):
        [effect] = send_client_event(session, "private-a", {"i": index}, now=index / 10)
        assert isinstance(effect, Publish), index
    [effect] = send_client_event(session, "private-a", {"i": 10}, now=0.95)
    assert wire(effect) == RATE_ERROR
    [effect] = send_client_event(session, "private-a", {"i": 11}, now=0.999)
    assert wire(effect) == RATE_ERROR
    assert session.closed is False
    # The next window starts afresh.
    for index in range(10):
        [effect] = send_client_event(session, "private-a", {"i": index}, now=1.0 + index / 100)
        assert isinstance(effect, Publish), index
    [effect] = send_client_event(session, "private-a", {}, now=1.5)
    assert wire(effect) == RATE_ERROR
    [effect] = send_client_event(session, "private-a", {}, now=2.0)
    assert isinstance(effect, Publish)


def test_client_event_rate_follows_the_app() -> None:
    session = new_session(client_event_rate=2)
    join(session, "private-a", auth=auth("private-a"))
    effects = [send_client_event(session, "private-a", {}, now=0.1)[0] for _ in range(3)]
    assert [type(effect) for effect in effects] == [Publish, Publish, Send]
    assert wire(effects[2]) == error("Client event rejected: over 2 per second", 4301)


def test_rejected_client_events_do_not_use_the_rate() -> None:
    session = new_session(client_event_rate=1)
    join(session, "private-a", auth=auth("private-a"))
    send_client_event(session, "private-b", {})  # not subscribed
    [effect] = send_client_event(session, "private-a", {})
    assert isinstance(effect, Publish)


# -- sign-in -----------------------------------------------------------------------------------


def test_signin_success() -> None:
    session = new_session()
    user_data = '{"id":"42","user_info":{"name":"Zoë"},"watchlist":["1","2"]}'
    effects = signin(session, user_data)
    expected_user = SignIn("42", {"name": "Zoë"}, ("1", "2"))
    inner = json.dumps({"user_data": user_data}, separators=(",", ":"), ensure_ascii=False)
    assert effects == [
        Send(
            '{"event":"pusher:signin_success","data":' + json.dumps(inner, ensure_ascii=False) + "}"
        ),
        expected_user,
    ]
    assert wire(effects[0]) == {"event": "pusher:signin_success", "data": {"user_data": user_data}}
    assert session.user == expected_user


def test_signin_data_may_be_a_json_string() -> None:
    session = new_session()
    user_data = '{"id":"42"}'
    data = json.dumps(
        {"user_data": user_data, "auth": user_auth(KEY, SECRET, SOCKET_ID, user_data)}
    )
    effects = session.receive(message("pusher:signin", data), 0.0)
    assert effects[-1] == SignIn("42", None, ())


@pytest.mark.parametrize(
    ("watchlist", "expected"),
    [
        (None, ()),
        ([], ()),
        (["a", "b"], ("a", "b")),
        ([1, "2", 3], ("1", "2", "3")),
        (["a", "b", "a", 1, "1"], ("a", "b", "1")),
        (["a", None, {"id": "b"}, ["c"], 1.5, "d"], ("a", "d")),
    ],
)
def test_signin_watchlist(watchlist: Any, expected: tuple[str, ...]) -> None:
    session = new_session()
    user = signed_in(session, "42", watchlist=watchlist)
    assert user.watchlist == expected


def test_signin_watchlist_over_the_limit_is_truncated_with_4302() -> None:
    session = new_session(watchlist_limit=2)
    user_data = json.dumps({"id": "42", "watchlist": ["a", "b", "c", "d"]})
    effects = signin(session, user_data)
    assert len(effects) == 3
    assert wire(effects[0])["event"] == "pusher:signin_success"
    assert wire(effects[1]) == error("Watchlist over 2 users; the first 2 are kept", 4302)
    assert effects[2] == SignIn("42", None, ("a", "b"))
    assert session.user == effects[2]


def test_signin_watchlist_at_the_limit() -> None:
    session = new_session(watchlist_limit=2)
    effects = signin(session, json.dumps({"id": "42", "watchlist": ["a", "b", "a"]}))
    assert len(effects) == 2
    assert effects[1] == SignIn("42", None, ("a", "b"))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "pusher:signin needs user_data"),
        ({"user_data": {"id": "42"}, "auth": "x"}, "pusher:signin needs user_data"),
        ({"user_data": 42}, "pusher:signin needs user_data"),
        ({"user_data": '{"id":"42"}'}, "Invalid signin: auth is required"),
        ({"user_data": '{"id":"42"}', "auth": ""}, "Invalid signin: auth is required"),
        ({"user_data": '{"id":"42"}', "auth": f"{KEY}:00"}, "Invalid signin: invalid signature"),
        (
            {
                "user_data": '{"id":"42"}',
                "auth": user_auth(KEY, SECRET, "123.457", '{"id":"42"}'),
            },
            "Invalid signin: invalid signature",
        ),
        (
            {
                "user_data": '{"id":"42"}',
                "auth": user_auth(KEY, SECRET, SOCKET_ID, '{"id":"43"}'),
            },
            "Invalid signin: invalid signature",
        ),
        (
            {
                "user_data": '{"id":"42"}',
                "auth": channel_auth(KEY, SECRET, SOCKET_ID, '{"id":"42"}', None),
            },
            "Invalid signin: invalid signature",
        ),
        (
            {
                "user_data": '{"id":"42"}',
                "auth": user_auth("other-key", "other-secret", SOCKET_ID, '{"id":"42"}'),
            },
            "Invalid signin: invalid signature",
        ),
    ],
)
def test_signin_failure(data: dict[str, Any], problem: str) -> None:
    session = new_session()
    [effect] = session.receive(message("pusher:signin", data), 0.0)
    assert wire(effect) == error(problem, 4009)
    assert (session.user, session.closed) == (None, False)


@pytest.mark.parametrize(
    ("user_data", "problem"),
    [
        ("not json", "user_data must be a JSON object"),
        ('["42"]', "user_data must be a JSON object"),
        ('"42"', "user_data must be a JSON object"),
        ("{}", "Invalid user_data: user id must be a non-empty string"),
        ('{"id":42}', "Invalid user_data: user id must be a non-empty string"),
        ('{"id":""}', "Invalid user_data: user id must be a non-empty string"),
        ('{"id":null}', "Invalid user_data: user id must be a non-empty string"),
        (json.dumps({"id": "u" * 129}), "Invalid user_data: user id longer than 128 characters"),
        ('{"id":"42","watchlist":"43"}', "watchlist must be a list of user ids"),
        ('{"id":"42","watchlist":{"43":1}}', "watchlist must be a list of user ids"),
    ],
)
def test_signin_with_bad_user_data(user_data: str, problem: str) -> None:
    # docs/realtime.md, User authentication: "Failure: pusher:error 4009, the connection
    # stays open."
    session = new_session()
    [effect] = signin(session, user_data)
    assert wire(effect) == error(problem, 4009)
    assert (session.user, session.closed) == (None, False)


def test_signin_user_id_of_the_maximum_length() -> None:
    session = new_session()
    assert signed_in(session, "u" * 128).user_id == "u" * 128


USER_ID_CHARSET_PROBLEM = (
    "Invalid user_data: user id may only contain A-Z, a-z, 0-9, '_', '-', '=', '@', ',', '.', ';'"
)


@pytest.mark.parametrize("user_id", ["jane doe/é", "a b", "a/b", "é", "#42", "a:b", "42\n"])
def test_signin_user_id_outside_the_channel_charset(user_id: str) -> None:
    # The id names the user's #server-to-user-{id} channel, which pusher-js subscribes to
    # right after sign-in and the HTTP API publishes to: an id that cannot name a channel is
    # refused at sign-in (as the official SDKs' authenticate_user does), not later.
    session = new_session()
    [effect] = signin(session, json.dumps({"id": user_id}))
    assert wire(effect) == error(USER_ID_CHARSET_PROBLEM, 4009)
    assert (session.user, session.closed) == (None, False)


def test_every_signed_in_id_names_a_valid_user_channel() -> None:
    session = new_session()
    user_id = "AZaz09_-=@,.;"
    signed_in(session, user_id)
    channel = f"#server-to-user-{user_id}"
    assert [wire(effect) for effect in subscribe(session, channel)] == [succeeded(channel)]


def test_signin_user_id_is_capped_by_the_user_channel_name_length() -> None:
    # "#server-to-user-" is 16 characters and channel names are at most 200.
    session = new_session(max_user_id_length=1000)
    [effect] = signin(session, json.dumps({"id": "u" * 185}))
    assert wire(effect) == error("Invalid user_data: user id longer than 184 characters", 4009)
    assert session.user is None
    user = signed_in(session, "u" * 184)
    channel = "#server-to-user-" + "u" * 184
    assert [wire(effect) for effect in subscribe(session, channel)] == [succeeded(channel)]
    assert user.user_id == "u" * 184


def test_signin_user_id_length_follows_the_app() -> None:
    session = new_session(max_user_id_length=3)
    [effect] = signin(session, json.dumps({"id": "abcd"}))
    assert wire(effect) == error("Invalid user_data: user id longer than 3 characters", 4009)
    assert signed_in(session, "abc").user_id == "abc"


def test_already_signed_in() -> None:
    # A second sign-in fails; by the contract a sign-in failure is pusher:error 4009.
    session = new_session()
    first = signed_in(session, "42")
    [effect] = signin(session, '{"id":"43"}')
    assert wire(effect) == error("This connection is already signed in", 4009)
    assert session.user == first
    assert session.closed is False
