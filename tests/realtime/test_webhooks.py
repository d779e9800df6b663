"""Webhooks: what the node reports, the three-second rule, queueing, signing and delivery.

The node and the webhook queue run for real; the clock and the HTTP poster are fakes, so the
three-second rule and the retry schedule are tested without waiting. Delivery runs on a real
event loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pusher
import pytest

from leadcast.protocol import App, AppRegistry, Session
from leadcast.protocol.apps import Webhook
from leadcast.realtime.node import Node
from leadcast.realtime.webhooks import (
    WebhookEvent,
    WebhookOptions,
    WebhookPostError,
    Webhooks,
    webhook_body,
    webhook_headers,
)
from tests.realtime.fakes import FakePeer, RecordingWriter
from tests.support.client_messages import subscribe_text

URL_A = "http://hooks.test/a"
URL_B = "http://hooks.test/b"
APP = App("1", "key-1", "secret-1", client_events=True, webhooks=(Webhook(URL_A),))
APP2 = App("2", "key-2", "secret-2", client_events=True, webhooks=(Webhook(URL_B),))
PLAIN = App("3", "key-3", "secret-3", client_events=True)
START = 1_700_000_000.0


class FakeClock:
    """A wall clock and a monotonic clock that move only when told."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class FakePoster:
    """Records every request; answers from a per-URL script (then 200)."""

    def __init__(
        self,
        script: Mapping[str, Iterable[int | Exception]] | None = None,
        *,
        hang: Iterable[str] = (),
    ) -> None:
        self.script = {url: deque(outcomes) for url, outcomes in (script or {}).items()}
        self.hang = set(hang)  # URLs that never answer
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        self.closed = False

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append((url, body, dict(headers)))
        if url in self.hang:
            await asyncio.Event().wait()
        outcomes = self.script.get(url)
        if outcomes:
            outcome = outcomes.popleft()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return 200

    async def aclose(self) -> None:
        self.closed = True

    def bodies(self, url: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(body) for to, body, _ in self.requests if url in (None, to)]


@dataclass
class Rig:
    clock: FakeClock
    poster: FakePoster
    webhooks: Webhooks
    node: Node
    writer: RecordingWriter
    sleeps: list[float] = field(default_factory=list)

    def queued(self, url: str = URL_A) -> list[tuple[str, str, str | None]]:
        [target] = [t for t in self.webhooks.targets if t.url == url]
        return [(e.name, e.channel, e.user_id) for e in target.events]

    def after(self, seconds: float) -> None:
        """Let ``seconds`` pass and release what is due, as the timer would."""
        self.clock.advance(seconds)
        self.webhooks.release()


def make_rig(
    *apps: App,
    poster: FakePoster | None = None,
    jitter: float = 1.0,
    real_time: bool = False,
    **options: Any,
) -> Rig:
    clock = FakeClock()
    poster = poster or FakePoster()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        await asyncio.sleep(0)

    clocks: dict[str, Any] = {"wall": lambda: clock.wall, "monotonic": lambda: clock.mono}
    webhooks = Webhooks(
        apps or (APP, APP2, PLAIN),
        poster,
        WebhookOptions(**options),
        **({} if real_time else clocks),
        sleep=sleep,
        jitter=lambda: jitter,
    )
    writer = RecordingWriter()
    node = Node(AppRegistry(apps or (APP, APP2, PLAIN)), writer, webhooks)
    return Rig(clock, poster, webhooks, node, writer, sleeps)


_ids = itertools.count(1)


def connect(rig: Rig, app: App = APP) -> FakePeer:
    peer = FakePeer(Session(app, f"{app.id}.{next(_ids)}", 0.0))
    rig.node.connect(peer, 0.0)
    return peer


def subscribe(rig: Rig, peer: FakePeer, channel: str, user_id: str | None = None) -> None:
    rig.node.receive(peer, subscribe_text(peer.session, channel, user_id), 0.0)


def unsubscribe(rig: Rig, peer: FakePeer, channel: str) -> None:
    text = json.dumps({"event": "pusher:unsubscribe", "data": {"channel": channel}})
    rig.node.receive(peer, text, 0.0)


def client_event(rig: Rig, peer: FakePeer, channel: str, data: Any) -> None:
    text = json.dumps({"event": "client-typing", "channel": channel, "data": data})
    rig.node.receive(peer, text, 0.0)


def run(rig: Rig, scenario: Callable[[], Any], *, close_grace: float = 5.0) -> None:
    """Start delivery, run ``scenario`` (sync or async) on the loop, then close."""

    async def main() -> None:
        rig.webhooks.start()
        result = scenario()
        if asyncio.iscoroutine(result):
            await result
        await rig.webhooks.close(grace=close_grace)

    asyncio.run(main())


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


# -- what the node reports ---------------------------------------------------------------------


def test_first_subscriber_occupies_and_last_vacates_after_the_delay() -> None:
    rig = make_rig()
    a, b = connect(rig), connect(rig)
    subscribe(rig, a, "room")
    subscribe(rig, b, "room")
    subscribe(rig, b, "room")  # a repeated subscription changes nothing
    assert rig.queued() == [("channel_occupied", "room", None)]
    unsubscribe(rig, a, "room")
    rig.node.disconnect(b)
    assert rig.queued() == [("channel_occupied", "room", None)]
    rig.after(2.9)
    assert rig.queued() == [("channel_occupied", "room", None)]
    rig.after(0.1)
    assert rig.queued() == [
        ("channel_occupied", "room", None),
        ("channel_vacated", "room", None),
    ]


def test_a_refresh_within_the_delay_sends_neither_vacated_nor_occupied() -> None:
    rig = make_rig()
    peer = connect(rig)
    subscribe(rig, peer, "room")
    rig.node.disconnect(peer)
    rig.clock.advance(2.5)
    subscribe(rig, connect(rig), "room")  # the reloaded page
    rig.after(10)
    assert rig.queued() == [("channel_occupied", "room", None)]


def test_a_return_after_the_delay_sends_both() -> None:
    rig = make_rig()
    peer = connect(rig)
    subscribe(rig, peer, "room")
    rig.node.disconnect(peer)
    rig.after(3)
    subscribe(rig, connect(rig), "room")
    assert [name for name, _, _ in rig.queued()] == [
        "channel_occupied",
        "channel_vacated",
        "channel_occupied",
    ]


def test_vacated_carries_the_time_it_happened_not_the_time_it_was_sent() -> None:
    rig = make_rig()
    peer = connect(rig)
    subscribe(rig, peer, "room")
    rig.clock.advance(1)
    rig.node.disconnect(peer)
    rig.after(3)
    [target] = [t for t in rig.webhooks.targets if t.url == URL_A]
    assert [event.time_ms for event in target.events] == [START * 1000, (START + 1) * 1000]


def test_two_connections_of_one_user_add_and_remove_the_member_once() -> None:
    rig = make_rig()
    other, first, second = connect(rig), connect(rig), connect(rig)
    subscribe(rig, other, "presence-room", "watcher")
    subscribe(rig, first, "presence-room", "ann")
    subscribe(rig, second, "presence-room", "ann")
    members = [e for e in rig.queued() if e[0].startswith("member_")]
    assert members == [
        ("member_added", "presence-room", "watcher"),
        ("member_added", "presence-room", "ann"),
    ]
    rig.node.disconnect(first)
    rig.after(5)
    assert [e for e in rig.queued() if e[0] == "member_removed"] == []
    rig.node.disconnect(second)
    rig.after(2.9)
    assert [e for e in rig.queued() if e[0] == "member_removed"] == []
    rig.after(0.1)
    assert [e for e in rig.queued() if e[0] == "member_removed"] == [
        ("member_removed", "presence-room", "ann")
    ]


def test_a_user_rejoining_within_the_delay_sends_nothing_but_others_still_count() -> None:
    rig = make_rig()
    stays, ann, bob = connect(rig), connect(rig), connect(rig)
    subscribe(rig, stays, "presence-room", "zoe")
    subscribe(rig, ann, "presence-room", "ann")
    subscribe(rig, bob, "presence-room", "bob")
    before = rig.queued()
    rig.node.disconnect(ann)
    rig.node.disconnect(bob)
    rig.clock.advance(1)
    subscribe(rig, connect(rig), "presence-room", "ann")  # ann reloads; bob does not
    rig.after(3)
    assert rig.queued() == [*before, ("member_removed", "presence-room", "bob")]


def test_presence_refresh_of_the_only_member_sends_nothing() -> None:
    rig = make_rig()
    peer = connect(rig)
    subscribe(rig, peer, "presence-room", "ann")
    before = rig.queued()
    assert before == [
        ("channel_occupied", "presence-room", None),
        ("member_added", "presence-room", "ann"),
    ]
    rig.node.disconnect(peer)
    subscribe(rig, connect(rig), "presence-room", "ann")
    rig.after(60)
    assert rig.queued() == before


def test_a_refused_presence_subscription_occupies_nothing() -> None:
    small = App("9", "key-9", "secret-9", max_presence_members=1, webhooks=(Webhook(URL_A),))
    rig = make_rig(small)
    subscribe(rig, connect(rig, small), "presence-room", "ann")
    subscribe(rig, connect(rig, small), "presence-room", "bob")  # full: refused
    assert rig.queued() == [
        ("channel_occupied", "presence-room", None),
        ("member_added", "presence-room", "ann"),
    ]


def test_client_events_carry_user_id_on_presence_channels_only() -> None:
    rig = make_rig()
    sender, listener = connect(rig), connect(rig)
    for channel, user_id in (("private-chat", None), ("presence-chat", "ann")):
        subscribe(rig, sender, channel, user_id)
        subscribe(rig, listener, channel, "bob" if user_id else None)
    client_event(rig, sender, "private-chat", {"text": "hi"})
    client_event(rig, sender, "presence-chat", '{"text":"hey"}')
    [target] = [t for t in rig.webhooks.targets if t.url == URL_A]
    events = [e.to_json() for e in target.events if e.name == "client_event"]
    socket_id = sender.session.socket_id
    assert events == [
        {
            "name": "client_event",
            "channel": "private-chat",
            "event": "client-typing",
            "data": '{"text":"hi"}',  # the JSON string the listeners received
            "socket_id": socket_id,
        },
        {
            "name": "client_event",
            "channel": "presence-chat",
            "event": "client-typing",
            "data": '{"text":"hey"}',
            "socket_id": socket_id,
            "user_id": "ann",
        },
    ]
    assert json.loads(rig.writer.to(listener)[-1]["data"]) == {"text": "hey"}


def test_rejected_client_events_are_not_reported() -> None:
    rig = make_rig()
    sender = connect(rig)
    subscribe(rig, sender, "room")
    client_event(rig, sender, "room", {"x": 1})  # public channel: refused
    client_event(rig, sender, "private-other", {"x": 1})  # not subscribed
    assert [e for e in rig.queued() if e[0] == "client_event"] == []


def test_cache_miss_only_when_nothing_is_cached() -> None:
    rig = make_rig()
    subscribe(rig, connect(rig), "cache-prices")
    rig.node.publish(APP, ["cache-prices"], "update", "{}", now=0.0)
    subscribe(rig, connect(rig), "cache-prices")
    assert rig.queued() == [
        ("channel_occupied", "cache-prices", None),
        ("cache_miss", "cache-prices", None),
    ]


def test_event_types_choose_what_each_url_gets() -> None:
    app = App(
        "5",
        "key-5",
        "secret-5",
        client_events=True,
        webhooks=(
            Webhook(URL_A, frozenset({"member_added", "member_removed"})),
            Webhook(URL_B, frozenset({"channel_occupied", "client_event"})),
        ),
    )
    rig = make_rig(app)
    peer = connect(rig, app)
    subscribe(rig, peer, "presence-room", "ann")
    assert rig.queued(URL_A) == [("member_added", "presence-room", "ann")]
    assert rig.queued(URL_B) == [("channel_occupied", "presence-room", None)]


def test_apps_are_isolated_and_apps_without_webhooks_report_nothing() -> None:
    rig = make_rig()
    subscribe(rig, connect(rig, APP), "room-a")
    subscribe(rig, connect(rig, APP2), "room-b")
    subscribe(rig, connect(rig, PLAIN), "room-c")
    assert rig.queued(URL_A) == [("channel_occupied", "room-a", None)]
    assert rig.queued(URL_B) == [("channel_occupied", "room-b", None)]
    assert rig.node.states[PLAIN.id].hooks is None
    assert rig.webhooks.pending() == 2


def test_the_same_url_for_two_apps_is_two_queues_signed_apart() -> None:
    one = App("1", "key-1", "secret-1", webhooks=(Webhook(URL_A),))
    two = App("2", "key-2", "secret-2", webhooks=(Webhook(URL_A),))
    rig = make_rig(one, two)
    subscribe(rig, connect(rig, one), "room-1")
    subscribe(rig, connect(rig, two), "room-2")
    run(rig, lambda: until(lambda: len(rig.poster.requests) == 2))
    keys = {
        json.loads(body)["events"][0]["channel"]: headers["X-Pusher-Key"]
        for _, body, headers in rig.poster.requests
    }
    assert keys == {"room-1": "key-1", "room-2": "key-2"}


def test_without_a_delay_vacated_goes_at_once() -> None:
    rig = make_rig(delay=0)
    peer = connect(rig)
    subscribe(rig, peer, "room")
    rig.node.disconnect(peer)
    assert [name for name, _, _ in rig.queued()] == ["channel_occupied", "channel_vacated"]


# -- the request -------------------------------------------------------------------------------


def test_body_and_headers_verify_with_the_official_sdk() -> None:
    events = [
        WebhookEvent("channel_vacated", "room", 1_000_500),
        WebhookEvent("member_added", "presence-r", 1_000_000, "ann"),
    ]
    body = webhook_body(events)
    headers = webhook_headers(APP, body)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pusher-Key"] == "key-1"
    assert json.loads(body) == {
        "time_ms": 1_000_000,  # the oldest event's time
        "events": [
            {"name": "channel_vacated", "channel": "room"},
            {"name": "member_added", "channel": "presence-r", "user_id": "ann"},
        ],
    }
    now_ms = int(time.time() * 1000)
    fresh = webhook_body([WebhookEvent("channel_occupied", "room", now_ms)])
    sdk = pusher.Pusher(app_id=APP.id, key=APP.key, secret=APP.secret)
    signature = webhook_headers(APP, fresh)["X-Pusher-Signature"]
    assert sdk.validate_webhook(APP.key, signature, fresh.decode()) == json.loads(fresh)
    other = pusher.Pusher(app_id=APP2.id, key=APP.key, secret=APP2.secret)
    assert other.validate_webhook(APP.key, signature, fresh.decode()) is None


# -- delivery ----------------------------------------------------------------------------------


def test_a_500_is_retried_and_the_event_delivered_once() -> None:
    rig = make_rig(poster=FakePoster({URL_A: [500]}), jitter=0.0)
    subscribe(rig, connect(rig), "room")
    run(rig, lambda: until(lambda: rig.webhooks.stats()[f"app 1 → {URL_A}"].delivered == 1))
    [(_, first, _), (_, second, _)] = rig.poster.requests
    assert first == second  # the same request, same signature
    assert rig.sleeps == [0.5]  # backoff_first, halved by the jitter
    stats = rig.webhooks.stats()[f"app 1 → {URL_A}"]
    assert (stats.delivered, stats.requests, stats.retries, stats.failed) == (1, 1, 1, 0)


def test_connection_errors_and_timeouts_are_retried_with_growing_waits() -> None:
    class SlowThenFine(FakePoster):
        async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
            if len(self.requests) == 2:
                self.requests.append((url, body, dict(headers)))
                await asyncio.sleep(10)  # never answers within the timeout
            return await super().post(url, body, headers)

    poster = SlowThenFine({URL_A: [WebhookPostError("ConnectError: refused"), 502]})
    rig = make_rig(poster=poster, timeout=0.05)
    subscribe(rig, connect(rig), "room")
    run(rig, lambda: until(lambda: len(rig.poster.requests) == 4))
    assert rig.sleeps == [1.0, 2.0, 4.0]
    assert rig.webhooks.stats()[f"app 1 → {URL_A}"].delivered == 1


def test_gives_up_after_retry_for_and_moves_on(caplog: pytest.LogCaptureFixture) -> None:
    poster = FakePoster({URL_A: [500] * 100})
    rig = make_rig(poster=poster, retry_for=300)
    subscribe(rig, connect(rig), "room")

    async def scenario() -> None:
        await until(lambda: rig.webhooks.stats()[f"app 1 → {URL_A}"].failed == 1)
        rig.poster.script.clear()
        subscribe(rig, connect(rig), "later")
        await until(lambda: rig.webhooks.stats()[f"app 1 → {URL_A}"].delivered == 1)

    with caplog.at_level(logging.WARNING, "leadcast.realtime.webhooks"):
        run(rig, scenario)
    assert sum(rig.sleeps) <= 300
    assert rig.sleeps == [1, 2, 4, 8, 16, 32, 60, 60, 60]  # the next 60 would pass 300 s
    assert rig.poster.bodies()[-1]["events"] == [{"name": "channel_occupied", "channel": "later"}]
    assert "giving up on 1 events after 10 attempts (last: HTTP 500)" in caplog.text


def test_an_unexpected_error_drops_the_request_and_delivery_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = make_rig(poster=FakePoster({URL_A: [RuntimeError("bug")]}))
    subscribe(rig, connect(rig), "first")
    subscribe(rig, connect(rig), "second")
    with caplog.at_level(logging.ERROR, "leadcast.realtime.webhooks"):
        run(rig, lambda: until(lambda: len(rig.poster.requests) == 2))
    assert rig.poster.bodies()[1]["events"][0]["channel"] == "second"
    assert rig.webhooks.stats()[f"app 1 → {URL_A}"].failed == 1
    assert "could not send" in caplog.text


def test_without_batching_one_event_per_request_in_order() -> None:
    rig = make_rig()
    subscribe(rig, connect(rig), "presence-room", "ann")
    run(rig, lambda: until(lambda: len(rig.poster.requests) == 2))
    assert [body["events"] for body in rig.poster.bodies()] == [
        [{"name": "channel_occupied", "channel": "presence-room"}],
        [{"name": "member_added", "channel": "presence-room", "user_id": "ann"}],
    ]


def test_batching_puts_many_events_in_one_request_up_to_the_limit() -> None:
    app = App("7", "key-7", "secret-7", webhooks=(Webhook(URL_A),), webhook_batching=True)
    rig = make_rig(app, batch_limit=3)
    for name in ("a", "b", "c", "d"):
        subscribe(rig, connect(rig, app), name)
    run(rig, lambda: until(lambda: len(rig.poster.requests) == 2))
    assert [[e["channel"] for e in body["events"]] for body in rig.poster.bodies()] == [
        ["a", "b", "c"],
        ["d"],
    ]


def test_a_dead_url_holds_back_only_its_own_queue() -> None:
    app = App("6", "key-6", "secret-6", webhooks=(Webhook(URL_A), Webhook(URL_B)))
    rig = make_rig(app, poster=FakePoster(hang=[URL_A]))
    for name in ("a", "b", "c"):
        subscribe(rig, connect(rig, app), name)

    async def scenario() -> None:
        await until(lambda: len(rig.poster.bodies(URL_B)) == 3)
        # URL_A is still waiting on its first request; nothing else went there.
        assert {body["events"][0]["channel"] for body in rig.poster.bodies(URL_A)} == {"a"}

    run(rig, scenario, close_grace=0)


def test_a_full_queue_drops_the_oldest_counts_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = make_rig(queue_limit=3)
    with caplog.at_level(logging.WARNING, "leadcast.realtime.webhooks"):
        for name in ("a", "b", "c", "d", "e"):
            subscribe(rig, connect(rig), name)
    assert [channel for _, channel, _ in rig.queued()] == ["c", "d", "e"]
    assert rig.webhooks.stats()[f"app 1 → {URL_A}"].dropped == 2
    assert caplog.text.count("queue full") == 1


def test_events_queued_past_retry_for_expire_unsent() -> None:
    rig = make_rig(retry_for=300)
    subscribe(rig, connect(rig), "old")
    rig.clock.advance(301)
    subscribe(rig, connect(rig), "new")
    run(rig, lambda: until(lambda: len(rig.poster.requests) == 1))
    assert [body["events"][0]["channel"] for body in rig.poster.bodies()] == ["new"]
    assert rig.webhooks.stats()[f"app 1 → {URL_A}"].expired == 1


def test_held_events_are_released_by_the_timer() -> None:
    rig = make_rig(APP, delay=0.05, real_time=True)
    peer = connect(rig)
    subscribe(rig, peer, "room")

    async def scenario() -> None:
        rig.node.disconnect(peer)
        await until(lambda: len(rig.poster.requests) == 2)

    run(rig, scenario)
    assert [body["events"][0]["name"] for body in rig.poster.bodies()] == [
        "channel_occupied",
        "channel_vacated",
    ]


def test_close_sends_held_events_at_once_then_closes_the_poster() -> None:
    rig = make_rig()  # a 3 s delay on a clock that does not move
    peer = connect(rig)
    subscribe(rig, peer, "room")
    rig.node.disconnect(peer)
    run(rig, lambda: None)
    assert [body["events"][0]["name"] for body in rig.poster.bodies()] == [
        "channel_occupied",
        "channel_vacated",
    ]
    assert rig.poster.closed
    assert rig.webhooks.pending() == 0


def test_close_gives_up_after_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(poster=FakePoster(hang=[URL_A]))
    for name in ("a", "b"):
        subscribe(rig, connect(rig), name)
    with caplog.at_level(logging.WARNING, "leadcast.realtime.webhooks"):
        run(rig, lambda: None, close_grace=0.05)
    assert "stopping with 1 events not delivered" in caplog.text
    assert rig.poster.closed
