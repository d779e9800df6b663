"""PusherBroadcaster: signed Pusher HTTP API requests, and delivery through a real server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from websockets.sync.client import connect

from leadcast.api import create_api
from leadcast.config import Settings
from leadcast.db.models import OutboxMessage
from leadcast.protocol.errors import SignatureError
from leadcast.protocol.signatures import verify_request
from leadcast.relay import (
    BroadcastError,
    LogBroadcaster,
    NullBroadcaster,
    OutgoingEvent,
    PusherBroadcaster,
    Relay,
    build_broadcaster,
)
from tests.e2e.server import DEFAULT_APP, RunningServer, realtime_server
from tests.support.factories import SEED_LEAD, ApiClient, accounts, make_pm

SECRET = "s3cret"
EVENT = OutgoingEvent("private-property-manager.7", "lead.distributed", '{"lead":{"id":15}}')


def recording_client(status: int = 200) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={} if status < 300 else {"error": "nope"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def broadcaster(client: httpx.AsyncClient) -> PusherBroadcaster:
    return PusherBroadcaster(
        app_id="app-1",
        key="key-1",
        secret=SECRET,
        base_url="http://pusher.test:6001/",
        client=client,
    )


def publish(target: PusherBroadcaster, events: list[OutgoingEvent]) -> None:
    async def go() -> None:
        try:
            await target.publish(events)
        finally:
            await target.aclose()

    asyncio.run(go())


def check_signed(request: httpx.Request) -> None:
    params = {k.lower(): v for k, v in request.url.params.items()}
    verify_request(
        key="key-1",
        secret=SECRET,
        method=request.method,
        path=request.url.path,
        params=params,
        body=request.content,
        now=time.time(),
    )


def test_one_event_is_a_signed_events_request() -> None:
    client, seen = recording_client()
    publish(broadcaster(client), [EVENT])
    asyncio.run(client.aclose())
    [request] = seen
    assert request.url.path == "/apps/app-1/events"
    assert str(request.url).startswith("http://pusher.test:6001/apps/app-1/events?")
    assert json.loads(request.content) == {
        "name": "lead.distributed",
        "channel": "private-property-manager.7",
        "data": '{"lead":{"id":15}}',
    }
    check_signed(request)


def test_several_events_are_one_signed_batch() -> None:
    client, seen = recording_client()
    events = [
        OutgoingEvent(f"private-property-manager.{n}", "lead.distributed", "{}") for n in range(10)
    ]
    publish(broadcaster(client), events)
    asyncio.run(client.aclose())
    [request] = seen
    assert request.url.path == "/apps/app-1/batch_events"
    batch = json.loads(request.content)["batch"]
    assert [item["channel"] for item in batch] == [e.channel for e in events]
    check_signed(request)


def test_a_tampered_request_would_not_verify() -> None:
    client, seen = recording_client()
    publish(broadcaster(client), [EVENT])
    asyncio.run(client.aclose())
    params = {k.lower(): v for k, v in seen[0].url.params.items()}
    with pytest.raises(SignatureError):
        verify_request(
            key="key-1",
            secret=SECRET,
            method="POST",
            path=seen[0].url.path,
            params=params,
            body=seen[0].content + b" ",
            now=time.time(),
        )


def test_more_than_ten_events_are_refused() -> None:
    client, seen = recording_client()
    with pytest.raises(ValueError, match="at most 10"):
        publish(broadcaster(client), [EVENT] * 11)
    asyncio.run(client.aclose())
    assert seen == []


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (401, True), (404, True), (400, False), (413, False)],
)
def test_http_errors_say_whether_to_retry(status: int, retryable: bool) -> None:
    client, _ = recording_client(status)
    with pytest.raises(BroadcastError) as caught:
        publish(broadcaster(client), [EVENT])
    asyncio.run(client.aclose())
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert str(status) in str(caught.value)


def test_network_errors_are_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    with pytest.raises(BroadcastError) as caught:
        publish(broadcaster(client), [EVENT])
    asyncio.run(client.aclose())
    assert caught.value.retryable
    assert caught.value.status is None


def test_the_driver_picks_the_broadcaster() -> None:
    pusher = Settings(
        broadcast_driver="pusher", pusher_app_id="a", pusher_app_key="k", pusher_app_secret="s"
    )
    made = build_broadcaster(pusher)
    assert isinstance(made, PusherBroadcaster)
    asyncio.run(made.aclose())
    assert isinstance(build_broadcaster(Settings(broadcast_driver="log")), LogBroadcaster)
    assert isinstance(build_broadcaster(Settings(broadcast_driver="null")), NullBroadcaster)


def test_log_and_null_broadcasters(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadcast.relay")
    asyncio.run(LogBroadcaster().publish([EVENT]))
    asyncio.run(NullBroadcaster().publish([EVENT]))
    assert "lead.distributed on private-property-manager.7" in caplog.text


# -- against a real `leadcast realtime` server ------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with realtime_server(tmp_path_factory.mktemp("realtime")) as running:
        yield running


def receive(ws: Any, event: str) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=5))
        if message["event"] == event:
            return message  # type: ignore[no-any-return]
        assert not message["event"].endswith("error"), message


@pytest.mark.e2e
def test_a_subscribed_pm_receives_the_exact_payload(engine: Engine, server: RunningServer) -> None:
    app = DEFAULT_APP
    settings = Settings(
        broadcast_driver="pusher",
        pusher_app_id=app["id"],
        pusher_app_key=app["key"],
        pusher_app_secret=app["secret"],
        pusher_host=server.host,
        pusher_port=server.port,
        pusher_scheme="http",
    )
    pm = make_pm(engine, "avery@example.com", min_units=50, max_units=150)
    key = accounts(engine).issue_api_key(name="test").key
    channel = f"private-property-manager.{pm.id}"
    with (
        ApiClient(create_api(settings, engine=engine)) as api,
        connect(f"{server.ws_url}/app/{app['key']}?protocol=7&client=py&version=1.0") as ws,
    ):
        token = api.post(
            "/api/auth/login", json={"email": "avery@example.com", "password": "password123"}
        ).json()["token"]
        socket_id = json.loads(receive(ws, "pusher:connection_established")["data"])["socket_id"]
        auth = api.post(
            "/api/broadcasting/auth",
            data={"socket_id": socket_id, "channel_name": channel},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert auth.status_code == 200, auth.text
        ws.send(
            json.dumps({"event": "pusher:subscribe", "data": {"channel": channel, **auth.json()}})
        )
        receive(ws, "pusher_internal:subscription_succeeded")

        created = api.post("/api/leads", json=SEED_LEAD, headers={"X-Api-Key": key})
        assert created.status_code == 201, created.text

        async def relay_round() -> int:
            broadcaster = PusherBroadcaster.from_settings(settings)
            try:
                return await Relay(engine, broadcaster).run_once()
            finally:
                await broadcaster.aclose()

        assert asyncio.run(relay_round()) == 1
        message = receive(ws, "lead.distributed")

    assert message["channel"] == channel
    with engine.connect() as connection:
        stored = connection.scalar(select(OutboxMessage.data))
    assert message["data"] == stored
    payload = json.loads(message["data"])
    assert set(payload) == {"lead", "score", "notification", "notification_id"}
    assert set(payload["lead"]) == {
        "id", "user_lead_id", "property_type", "street_address", "city", "state",
        "zip_code", "number_of_units", "full_name", "created_at", "status",
    }  # fmt: skip
    assert payload["lead"]["id"] == created.json()["id"]
    assert payload["notification"] == {
        "title": "🔥 High-Value Lead!",
        "message": "New residential property in Austin, TX",
        "priority": "high",
    }
    assert payload["score"]["badge"] == {
        "text": "🔥 High Value",
        "color": "red",
        "priority": "high",
    }
    assert "test@websocket.com" not in message["data"]
