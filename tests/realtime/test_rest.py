"""The HTTP API as request in, response out: RestApi.handle with signed requests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pusher
import pytest

from leadcast.protocol import App, AppRegistry, Session
from leadcast.protocol.signatures import body_md5, request_signature, user_auth
from leadcast.realtime.memory_backend import MemoryClusterState
from leadcast.realtime.node import Node
from leadcast.realtime.rest import MAX_BODY_BYTES, Reply, Response, RestApi
from tests.realtime.fakes import FakePeer, RecordingWriter, payload, run_sync
from tests.support.client_messages import subscribe_text

NOW = 1_700_000_000.0
APP = App("1", "key-1", "secret-1", cache_ttl=60)
APP2 = App("2", "key-2", "secret-2")
DISABLED = App("3", "key-3", "secret-3", enabled=False)
SMALL = App("4", "key-4", "secret-4", max_batch_events=2, max_channels_per_event=2)
CHARSET = "channel name may only contain A-Z, a-z, 0-9, '_', '-', '=', '@', ',', '.', ';'"


class World:
    """A node with four apps, its recording writer, and the API in front of it."""

    def __init__(self) -> None:
        self.apps = AppRegistry([APP, APP2, DISABLED, SMALL])
        self.writer = RecordingWriter()
        self.node = Node(self.apps, self.writer)
        self.api = RestApi(self.apps, self.node)
        self._ids = 0

    def connect(self, app: App = APP) -> FakePeer:
        self._ids += 1
        peer = FakePeer(Session(app, f"{app.id}.{self._ids}", NOW))
        self.node.connect(peer, NOW)
        return peer

    def subscribe(self, peer: FakePeer, channel: str, user_id: str | None = None) -> None:
        self.node.receive(peer, subscribe_text(peer.session, channel, user_id), NOW)

    def sign_in(self, peer: FakePeer, user_id: str) -> None:
        app = peer.session.app
        user_data = json.dumps({"id": user_id})
        auth = user_auth(app.key, app.secret, peer.session.socket_id, user_data)
        text = json.dumps(
            {"event": "pusher:signin", "data": {"user_data": user_data, "auth": auth}}
        )
        self.node.receive(peer, text, NOW)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        app: App = APP,
        query: dict[str, str] | None = None,
        key: str | None = None,
        secret: str | None = None,
        signed_path: str | None = None,
        timestamp: float = NOW,
        now: float = NOW,
        md5: bool = True,
        tamper: dict[str, str] | None = None,
    ) -> Response | None:
        """Sign and send a request the way the Pusher SDKs do."""
        raw = (
            body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        )
        params = dict(query or {})
        params.update(
            auth_key=app.key if key is None else key,
            auth_timestamp=str(int(timestamp)),
            auth_version="1.0",
        )
        if raw and md5:
            params["body_md5"] = body_md5(raw)
        params["auth_signature"] = request_signature(
            app.secret if secret is None else secret, method, signed_path or path, params
        )
        params.update(tamper or {})
        return resolved(self.api.handle(method, path, urlencode(params), raw, now))

    def nothing_happened(self) -> bool:
        """No frame reached any peer since the last clear, no close, no cache entry."""
        assert isinstance(self.node.cluster, MemoryClusterState)
        return (
            self.writer.delivered == []
            and self.writer.closes == []
            and self.node.cluster.cluster.cached == {}
        )


@pytest.fixture
def world() -> World:
    return World()


def resolved(reply: Reply | None) -> Response | None:
    """A reply as a response; one that needs the (memory) cluster state is run to its end."""
    return reply if reply is None or isinstance(reply, Response) else run_sync(reply)


def ok(reply: Reply | None, body: dict[str, Any] | None = None) -> None:
    response = resolved(reply)
    assert response is not None
    assert (response.status, response.body) == (200, {} if body is None else body)


def refused(reply: Reply | None, status: int, message: str) -> None:
    response = resolved(reply)
    assert response is not None
    assert (response.status, response.body) == (status, {"error": message})


def event(name: str = "new-lead", data: str = '{"id":1}', **fields: Any) -> dict[str, Any]:
    return {"name": name, "data": data, **fields}


# -- responses ---------------------------------------------------------------------------------


def test_response_encodes_compact_json() -> None:
    assert Response(200, {"channels": {"a": {}}}).encode() == b'{"channels":{"a":{}}}'
    assert Response(400, {"error": "é"}).encode() == b'{"error":"\\u00e9"}'


def test_max_body_bytes() -> None:
    assert MAX_BODY_BYTES == 1_048_576


# -- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/health", "/app/key-1", "/apps", "/apps/1", "/apps/", "/users/42", "/x/events"]
)
def test_paths_outside_the_api(world: World, path: str) -> None:
    assert world.request("GET", path) is None
    assert world.request("POST", path, {}) is None


def test_unknown_app_id(world: World) -> None:
    refused(
        world.request("POST", "/apps/99/events", event(channel="a")), 404, "unknown app id '99'"
    )


def test_unknown_endpoint(world: World) -> None:
    refused(world.request("GET", "/apps/1/nothing"), 404, "no such endpoint: GET /apps/1/nothing")
    refused(
        world.request("POST", "/apps/1/events/extra", {}),
        404,
        "no such endpoint: POST /apps/1/events/extra",
    )
    refused(
        world.request("GET", "/apps/1/channels/a/b/users"),
        404,
        "no such endpoint: GET /apps/1/channels/a/b/users",
    )


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/apps/1/events", "/events takes POST"),
        ("PUT", "/apps/1/events", "/events takes POST"),
        ("GET", "/apps/1/batch_events", "/batch_events takes POST"),
        ("POST", "/apps/1/channels", "channels take GET"),
        ("DELETE", "/apps/1/channels/leads", "channels take GET"),
        ("POST", "/apps/1/channels/presence-a/users", "channels take GET"),
        ("GET", "/apps/1/users/42/terminate_connections", "terminate takes POST"),
        ("GET", "/users/42/terminate_connections", "terminate takes POST"),
    ],
)
def test_wrong_method(world: World, method: str, path: str, message: str) -> None:
    refused(world.request(method, path), 405, message)


# -- authentication ----------------------------------------------------------------------------


def test_bad_signature(world: World) -> None:
    peer = world.connect()
    world.subscribe(peer, "leads")
    world.writer.clear()
    response = world.request("POST", "/apps/1/events", event(channel="leads"), secret="wrong")
    refused(response, 401, "authentication failed: invalid auth_signature")
    assert world.nothing_happened()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "key-2"}, "unknown auth_key"),
        ({"key": ""}, "missing auth_key"),
        ({"tamper": {"auth_signature": ""}}, "missing auth_signature"),
        ({"tamper": {"auth_version": "2.0"}}, "auth_version must be 1.0"),
        ({"tamper": {"auth_timestamp": "soon"}}, "auth_timestamp must be an integer"),
        ({"timestamp": NOW - 601}, "auth_timestamp is more than 600 seconds from server time"),
        ({"timestamp": NOW + 601}, "auth_timestamp is more than 600 seconds from server time"),
        ({"md5": False}, "body_md5 is required with a body"),
        ({"tamper": {"body_md5": body_md5(b"{}")}}, "body_md5 does not match the body"),
        ({"signed_path": "/apps/2/events"}, "invalid auth_signature"),
        ({"query": {"extra": "1"}, "tamper": {"extra": "2"}}, "invalid auth_signature"),
    ],
)
def test_authentication_failures(world: World, kwargs: dict[str, Any], message: str) -> None:
    peer = world.connect()
    world.subscribe(peer, "cache-leads")
    world.writer.clear()
    response = world.request("POST", "/apps/1/events", event(channel="cache-leads"), **kwargs)
    refused(response, 401, f"authentication failed: {message}")
    assert world.nothing_happened()


def test_timestamp_at_the_edge_of_the_window(world: World) -> None:
    ok(world.request("POST", "/apps/1/events", event(channel="a"), timestamp=NOW - 600))
    ok(world.request("POST", "/apps/1/events", event(channel="a"), timestamp=NOW + 600))


def test_upper_case_query_keys_are_accepted(world: World) -> None:
    params = {"auth_key": APP.key, "auth_timestamp": str(int(NOW)), "auth_version": "1.0"}
    params["auth_signature"] = request_signature(APP.secret, "GET", "/apps/1/channels", params)
    query = urlencode({key.upper(): value for key, value in params.items()})
    ok(world.api.handle("GET", "/apps/1/channels", query, b"", NOW), {"channels": {}})


def test_get_with_md5_of_the_empty_body(world: World) -> None:
    response = world.request(
        "GET", "/apps/1/channels", query={"body_md5": "d41d8cd98f00b204e9800998ecf8427e"}
    )
    ok(response, {"channels": {}})


def test_disabled_app(world: World) -> None:
    refused(
        world.request("POST", "/apps/3/events", event(channel="a"), app=DISABLED),
        403,
        "app is disabled",
    )
    refused(world.request("GET", "/apps/3/channels", app=DISABLED), 403, "app is disabled")
    assert world.nothing_happened()


def test_disabled_app_checks_the_signature_first(world: World) -> None:
    response = world.request("GET", "/apps/3/channels", app=DISABLED, secret="wrong")
    refused(response, 401, "authentication failed: invalid auth_signature")


def test_escaped_path_signed_as_sent(world: World) -> None:
    response = world.request("GET", "/apps/1/channels/presence%2Droom")
    ok(response, {"occupied": False})


def test_escaped_path_signed_unescaped(world: World) -> None:
    response = world.request(
        "GET", "/apps/1/channels/presence%2Droom", signed_path="/apps/1/channels/presence-room"
    )
    ok(response, {"occupied": False})


def test_escaped_path_signed_wrongly(world: World) -> None:
    response = world.request("GET", "/apps/1/channels/presence%2Droom", secret="wrong")
    refused(response, 401, "authentication failed: invalid auth_signature")


def test_escaped_path_with_another_failure(world: World) -> None:
    response = world.request("GET", "/apps/1/channels/presence%2Droom", timestamp=NOW - 9999)
    refused(
        response,
        401,
        "authentication failed: auth_timestamp is more than 600 seconds from server time",
    )


# -- POST /apps/{id}/events --------------------------------------------------------------------


def test_event_to_one_channel(world: World) -> None:
    peer, other = world.connect(), world.connect()
    world.subscribe(peer, "leads")
    world.subscribe(other, "elsewhere")
    world.writer.clear()
    ok(world.request("POST", "/apps/1/events", event(channel="leads")))
    assert world.writer.delivered == [
        (peer, {"event": "new-lead", "channel": "leads", "data": '{"id":1}'})
    ]


def test_event_to_several_channels(world: World) -> None:
    a, b = world.connect(), world.connect()
    world.subscribe(a, "one")
    world.subscribe(b, "two")
    world.writer.clear()
    ok(world.request("POST", "/apps/1/events", event(channels=["one", "two", "one"])))
    assert [(peer, m["channel"]) for peer, m in world.writer.delivered] == [(a, "one"), (b, "two")]


def test_event_excludes_the_socket(world: World) -> None:
    a, b = world.connect(), world.connect()
    world.subscribe(a, "leads")
    world.subscribe(b, "leads")
    world.writer.clear()
    ok(
        world.request(
            "POST", "/apps/1/events", event(channel="leads", socket_id=a.session.socket_id)
        )
    )
    assert world.writer.recipients("new-lead") == [b]


def test_event_to_a_user(world: World) -> None:
    peer = world.connect()
    world.sign_in(peer, "42")
    world.writer.clear()
    ok(world.request("POST", "/apps/1/events", event(channel="#server-to-user-42")))
    assert world.writer.recipients("new-lead") == [peer]


def test_event_with_info(world: World) -> None:
    a, b, c = world.connect(), world.connect(), world.connect()
    world.subscribe(a, "presence-room", "u1")
    world.subscribe(b, "presence-room", "u1")
    world.subscribe(c, "presence-room", "u2")
    body = event(channels=["presence-room", "presence-empty"], info="user_count,subscription_count")
    ok(
        world.request("POST", "/apps/1/events", body),
        {
            "channels": {
                "presence-room": {"subscription_count": 3, "user_count": 2},
                "presence-empty": {"subscription_count": 0, "user_count": 0},
            }
        },
    )


def test_event_with_user_count_only(world: World) -> None:
    world.subscribe(world.connect(), "presence-room", "u1")
    body = event(channel="presence-room", info="user_count")
    ok(
        world.request("POST", "/apps/1/events", body),
        {"channels": {"presence-room": {"user_count": 1}}},
    )


def test_event_with_subscription_count_on_a_public_channel(world: World) -> None:
    world.subscribe(world.connect(), "leads")
    body = event(channel="leads", info="subscription_count")
    ok(
        world.request("POST", "/apps/1/events", body),
        {"channels": {"leads": {"subscription_count": 1}}},
    )


def test_event_data_at_the_limit(world: World) -> None:
    ok(world.request("POST", "/apps/1/events", event(channel="a", data="x" * 10_240)))
    ok(world.request("POST", "/apps/1/events", event(name="n" * 200, channel="a")))
    channels = [f"c{n}" for n in range(100)]
    ok(world.request("POST", "/apps/1/events", event(channels=channels)))


LONG_NAME = "x" * 201


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "body is not valid JSON"),
        (b"", 400, "body is not valid JSON"),
        ([event(channel="leads")], 400, "body must be a JSON object"),
        ({"data": "d", "channel": "leads"}, 400, "name must be a non-empty string"),
        (event(name="", channel="leads"), 400, "name must be a non-empty string"),
        (event(name=5, channel="leads"), 400, "name must be a non-empty string"),
        (event(name="n" * 201, channel="leads"), 400, "name is longer than 200 characters"),
        ({"name": "e", "channel": "leads"}, 400, "data must be a string (JSON-encode objects)"),
        (
            event(data={"id": 1}, channel="leads"),
            400,
            "data must be a string (JSON-encode objects)",
        ),
        (event(data="x" * 10_241, channel="leads"), 413, "data is over 10240 bytes"),
        (event(data="é" * 5_121, channel="leads"), 413, "data is over 10240 bytes"),
        (event(channel="leads", channels=["leads"]), 400, "give channel or channels, not both"),
        (event(channels=[]), 400, "channels must be a non-empty list"),
        (event(channels="leads"), 400, "channels must be a non-empty list"),
        (event(), 400, "channels is required"),
        (event(channels=[f"c{n}" for n in range(101)]), 400, "more than 100 channels"),
        (event(channel="a b"), 400, f"{CHARSET}: 'a b'"),
        (event(channels=["leads", "#x"]), 400, f"{CHARSET}: '#x'"),
        (
            event(channel=LONG_NAME),
            400,
            f"channel name longer than 200 characters: {LONG_NAME[:200]!r}",
        ),
        (event(channel=5), 400, "channel name must be a non-empty string: 5"),
        (event(channel=""), 400, "channel name must be a non-empty string: ''"),
        (event(channel="leads", socket_id="abc"), 400, "socket_id must look like 1234.5678"),
        (event(channel="leads", socket_id="1.2.3"), 400, "socket_id must look like 1234.5678"),
        (event(channel="leads", socket_id="1234"), 400, "socket_id must look like 1234.5678"),
        (event(channel="leads", socket_id=1.5), 400, "socket_id must look like 1234.5678"),
        (event(channel="leads", info="colour"), 400, "unknown info attribute(s): colour"),
        (event(channel="leads", info="cache,b"), 400, "unknown info attribute(s): b, cache"),
        (event(channel="leads", info=["user_count"]), 400, "info must be a comma-separated string"),
        (
            event(channels=["presence-a", "leads"], info="user_count"),
            400,
            "info=user_count is only for presence channels",
        ),
    ],
)
def test_event_rejections(world: World, body: Any, status: int, message: str) -> None:
    peers = [world.connect() for _ in range(2)]
    for peer in peers:
        world.subscribe(peer, "leads")
    world.writer.clear()
    refused(world.request("POST", "/apps/1/events", body), status, message)
    assert world.nothing_happened()


def test_event_channel_limit_follows_the_app(world: World) -> None:
    refused(
        world.request("POST", "/apps/4/events", event(channels=["a", "b", "c"]), app=SMALL),
        400,
        "more than 2 channels",
    )


def test_event_to_a_cache_channel_is_cached(world: World) -> None:
    ok(world.request("POST", "/apps/1/events", event(channel="cache-x")))
    ok(
        world.request("GET", "/apps/1/channels/cache-x", query={"info": "cache"}, now=NOW + 0.5),
        {"occupied": False, "cache": {"event": "new-lead", "data": '{"id":1}', "ttl": 59}},
    )


# -- POST /apps/{id}/batch_events --------------------------------------------------------------


def test_batch(world: World) -> None:
    a, b = world.connect(), world.connect()
    world.subscribe(a, "one")
    world.subscribe(b, "two")
    world.writer.clear()
    batch = [
        event(name="first", channel="one"),
        event(name="second", channel="two", socket_id=b.session.socket_id),
        event(name="third", channel="two"),
    ]
    ok(world.request("POST", "/apps/1/batch_events", {"batch": batch}))
    assert [(peer, m["event"]) for peer, m in world.writer.delivered] == [
        (a, "first"),
        (b, "third"),
    ]


def test_batch_with_info(world: World) -> None:
    a, b = world.connect(), world.connect()
    world.subscribe(a, "presence-room", "u1")
    world.subscribe(b, "leads")
    batch = [
        event(channel="presence-room", info="user_count,subscription_count"),
        event(channel="leads"),
        event(channel="leads", info="subscription_count"),
    ]
    ok(
        world.request("POST", "/apps/1/batch_events", {"batch": batch}),
        {
            "batch": [
                {"user_count": 1, "subscription_count": 1},
                {},
                {"subscription_count": 1},
            ]
        },
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "batch must be a non-empty list of events"),
        ({"batch": []}, 400, "batch must be a non-empty list of events"),
        ({"batch": event(channel="leads")}, 400, "batch must be a non-empty list of events"),
        (
            {"batch": [event(channel="leads")] * 11},
            400,
            "batch has more than 10 events",
        ),
        (
            {"batch": [event(channel="leads"), event(channel="leads"), "third"]},
            400,
            "batch[2] must be an object",
        ),
        (
            {"batch": [event(channel="leads"), event(channel="leads"), {"channel": "leads"}]},
            400,
            "batch[2]: name must be a non-empty string",
        ),
        (
            {"batch": [event(channel="leads"), event(channel="leads"), event(channel="a b")]},
            400,
            f"batch[2]: {CHARSET}: 'a b'",
        ),
        (
            {"batch": [event(channel="leads"), event(channel="leads", data="x" * 10_241)]},
            413,
            "batch[1]: data is over 10240 bytes",
        ),
        (
            {"batch": [event(channel="cache-leads"), event(channels=["leads"])]},
            400,
            "batch[1]: channel is required",
        ),
        (
            {"batch": [event(channel="cache-leads"), event()]},
            400,
            "batch[1]: channel is required",
        ),
        (b"[]", 400, "body must be a JSON object"),
    ],
)
def test_batch_is_all_or_nothing(world: World, body: Any, status: int, message: str) -> None:
    peer = world.connect()
    world.subscribe(peer, "leads")
    world.subscribe(peer, "cache-leads")
    world.writer.clear()
    refused(world.request("POST", "/apps/1/batch_events", body), status, message)
    assert world.nothing_happened()


def test_batch_limit_follows_the_app(world: World) -> None:
    body = {"batch": [event(channel="a")] * 3}
    response = world.request("POST", "/apps/4/batch_events", body, app=SMALL)
    refused(response, 400, "batch has more than 2 events")
    ok(
        world.request(
            "POST", "/apps/4/batch_events", {"batch": [event(channel="a")] * 2}, app=SMALL
        )
    )


# -- GET /apps/{id}/channels -------------------------------------------------------------------


@pytest.fixture
def occupied(world: World) -> World:
    a, b, c = world.connect(), world.connect(), world.connect()
    world.subscribe(a, "leads")
    world.subscribe(b, "leads")
    world.subscribe(a, "presence-room", "u1")
    world.subscribe(b, "presence-room", "u1")
    world.subscribe(c, "presence-room", "u2")
    world.subscribe(c, "presence-other", "u3")
    world.subscribe(c, "private-x")
    world.subscribe(world.connect(APP2), "app2-only")
    return world


def test_channels(occupied: World) -> None:
    ok(
        occupied.request("GET", "/apps/1/channels"),
        {"channels": {"leads": {}, "presence-room": {}, "presence-other": {}, "private-x": {}}},
    )


def test_channels_by_prefix(occupied: World) -> None:
    ok(
        occupied.request("GET", "/apps/1/channels", query={"filter_by_prefix": "private-"}),
        {"channels": {"private-x": {}}},
    )
    ok(
        occupied.request("GET", "/apps/1/channels", query={"filter_by_prefix": "nothing-"}),
        {"channels": {}},
    )


def test_channels_with_user_count(occupied: World) -> None:
    query = {"filter_by_prefix": "presence-", "info": "user_count"}
    ok(
        occupied.request("GET", "/apps/1/channels", query=query),
        {"channels": {"presence-room": {"user_count": 2}, "presence-other": {"user_count": 1}}},
    )


def test_channels_with_subscription_count(occupied: World) -> None:
    query = {"filter_by_prefix": "le", "info": "subscription_count"}
    ok(
        occupied.request("GET", "/apps/1/channels", query=query),
        {"channels": {"leads": {"subscription_count": 2}}},
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"info": "user_count"}, "info=user_count needs filter_by_prefix=presence-"),
        (
            {"info": "user_count", "filter_by_prefix": "private-"},
            "info=user_count needs filter_by_prefix=presence-",
        ),
        ({"info": "members"}, "unknown info attribute(s): members"),
        ({"info": "cache"}, "unknown info attribute(s): cache"),
    ],
)
def test_channels_rejections(occupied: World, query: dict[str, str], message: str) -> None:
    refused(occupied.request("GET", "/apps/1/channels", query=query), 400, message)


def test_channels_of_the_other_app(occupied: World) -> None:
    ok(occupied.request("GET", "/apps/2/channels", app=APP2), {"channels": {"app2-only": {}}})


# -- GET /apps/{id}/channels/{name} ------------------------------------------------------------


def test_channel(occupied: World) -> None:
    ok(occupied.request("GET", "/apps/1/channels/leads"), {"occupied": True})
    ok(occupied.request("GET", "/apps/1/channels/nobody"), {"occupied": False})


def test_channel_with_info(occupied: World) -> None:
    query = {"info": "user_count,subscription_count"}
    ok(
        occupied.request("GET", "/apps/1/channels/presence-room", query=query),
        {"occupied": True, "user_count": 2, "subscription_count": 3},
    )
    ok(
        occupied.request("GET", "/apps/1/channels/presence-nobody", query=query),
        {"occupied": False, "user_count": 0, "subscription_count": 0},
    )
    ok(
        occupied.request("GET", "/apps/1/channels/leads", query={"info": "subscription_count"}),
        {"occupied": True, "subscription_count": 2},
    )


def test_channel_with_cache_info(world: World) -> None:
    query = {"info": "cache"}
    ok(world.request("GET", "/apps/1/channels/cache-x", query=query), {"occupied": False})
    world.node.publish(APP, ["cache-x"], "price", "42", now=NOW - 30.5)
    ok(
        world.request("GET", "/apps/1/channels/cache-x", query=query),
        {"occupied": False, "cache": {"event": "price", "data": "42", "ttl": 29}},
    )
    ok(
        world.request("GET", "/apps/1/channels/cache-x", query=query, now=NOW + 29.5),
        {"occupied": False},
    )


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        ("/apps/1/channels/a%20b", {}, CHARSET),
        ("/apps/1/channels/%23x", {}, CHARSET),
        (f"/apps/1/channels/{'x' * 201}", {}, "channel name longer than 200 characters"),
        (
            "/apps/1/channels/leads",
            {"info": "user_count"},
            "info=user_count is only for presence channels",
        ),
        ("/apps/1/channels/leads", {"info": "cache"}, "info=cache is only for cache channels"),
        ("/apps/1/channels/leads", {"info": "size"}, "unknown info attribute(s): size"),
        ("/apps/1/channels/leads/users", {}, "users are only listed for presence channels"),
        ("/apps/1/channels/a%20b/users", {}, CHARSET),
    ],
)
def test_channel_rejections(world: World, path: str, query: dict[str, str], message: str) -> None:
    refused(world.request("GET", path, query=query), 400, message)


# -- GET /apps/{id}/channels/{name}/users ------------------------------------------------------


def test_presence_users(occupied: World) -> None:
    ok(
        occupied.request("GET", "/apps/1/channels/presence-room/users"),
        {"users": [{"id": "u1"}, {"id": "u2"}]},
    )
    ok(occupied.request("GET", "/apps/1/channels/presence-nobody/users"), {"users": []})


# -- terminating connections -------------------------------------------------------------------


def test_terminate_user(world: World) -> None:
    a, b, other = world.connect(), world.connect(), world.connect()
    twin = world.connect(APP2)
    for peer in (a, b, twin):
        world.sign_in(peer, "42")
    world.sign_in(other, "43")
    ok(world.request("POST", "/apps/1/users/42/terminate_connections", {}))
    reason = "Connection terminated by the server"
    assert world.writer.closes == [(a, 4009, reason), (b, 4009, reason)]


def test_terminate_without_prefix_finds_the_app_by_key(world: World) -> None:
    one, two = world.connect(APP), world.connect(APP2)
    world.sign_in(one, "42")
    world.sign_in(two, "42")
    ok(world.request("POST", "/users/42/terminate_connections", {}, app=APP2))
    assert world.writer.closes == [(two, 4009, "Connection terminated by the server")]


def test_terminate_without_prefix_and_an_unknown_key(world: World) -> None:
    peer = world.connect()
    world.sign_in(peer, "42")
    world.writer.clear()
    refused(
        world.request("POST", "/users/42/terminate_connections", {}, key="nope"),
        401,
        "unknown auth_key",
    )
    response = world.api.handle("POST", "/users/42/terminate_connections", "", b"{}", NOW)
    refused(response, 401, "unknown auth_key")
    assert world.nothing_happened()


def test_terminate_without_prefix_checks_the_signature(world: World) -> None:
    peer = world.connect()
    world.sign_in(peer, "42")
    response = world.request("POST", "/users/42/terminate_connections", {}, secret="wrong")
    refused(response, 401, "authentication failed: invalid auth_signature")
    assert world.writer.closes == []


def test_terminate_unknown_user(world: World) -> None:
    ok(world.request("POST", "/apps/1/users/nobody/terminate_connections", {}))
    ok(world.request("POST", "/apps/1/users/nobody/terminate_connections"))
    assert world.writer.closes == []


# -- the official Python SDK -------------------------------------------------------------------


@pytest.fixture
def sdk() -> pusher.Pusher:
    return pusher.Pusher(app_id=APP.id, key=APP.key, secret=APP.secret, host="localhost", ssl=False)


def send_sdk(world: World, request: Any) -> Reply | None:
    timestamp = float(request.query_params["auth_timestamp"])
    return world.api.handle(
        request.method, request.path, request.query_string, request.body, timestamp
    )


def test_sdk_requests_are_accepted(world: World, sdk: pusher.Pusher) -> None:
    client = sdk._pusher_client
    a, b = world.connect(), world.connect()
    world.subscribe(a, "presence-room", "u1")
    world.subscribe(b, "leads")
    world.sign_in(b, "42")
    world.writer.clear()

    ok(send_sdk(world, client.trigger.make_request(["leads"], "hello", {"n": 1})))
    assert world.writer.to(b) == [{"event": "hello", "channel": "leads", "data": '{"n": 1}'}]
    batch = [{"channel": "presence-room", "name": "hi", "data": "x"}]
    ok(send_sdk(world, client.trigger_batch.make_request(batch)))
    assert world.writer.recipients("hi") == [a]
    ok(
        send_sdk(world, client.channels_info.make_request("presence-", ["user_count"])),
        {"channels": {"presence-room": {"user_count": 1}}},
    )
    ok(
        send_sdk(world, client.channel_info.make_request("presence-room", ["user_count"])),
        {"occupied": True, "user_count": 1},
    )
    ok(send_sdk(world, client.users_info.make_request("presence-room")), {"users": [{"id": "u1"}]})
    ok(send_sdk(world, client.terminate_user_connections.make_request("42")))
    assert world.writer.closes == [(b, 4009, "Connection terminated by the server")]


def test_sdk_event_to_a_user(world: World, sdk: pusher.Pusher) -> None:
    peer = world.connect()
    world.sign_in(peer, "42")
    world.writer.clear()
    request = sdk._pusher_client.trigger.make_request(["#server-to-user-42"], "note", "hi")
    ok(send_sdk(world, request))
    assert payload_text(world.writer.to(peer)) == ["hi"]


def payload_text(messages: list[dict[str, Any]]) -> list[str]:
    return [message["data"] for message in messages]


def test_sdk_request_for_another_app_is_refused(world: World, sdk: pusher.Pusher) -> None:
    request = sdk._pusher_client.trigger.make_request(["leads"], "hello", "x")
    timestamp = float(request.query_params["auth_timestamp"])
    response = world.api.handle(
        "POST", "/apps/2/events", request.query_string, request.body, timestamp
    )
    refused(response, 401, "authentication failed: unknown auth_key")


def test_presence_payload_helper_round_trip() -> None:
    # The fakes decode double-encoded data the way clients do.
    assert payload({"data": '{"a":1}'}) == {"a": 1}
