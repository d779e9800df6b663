"""Webhooks end to end: a real ``leadcast realtime`` posting to a real HTTP receiver.

The receiver is a small threaded HTTP server started here; it records every request and can
be told to fail some. Signatures are checked with the official SDK's ``validate_webhook``.
The server holds vacated/removed events for ``DELAY`` seconds instead of 3, so the tests wait
less; absence is proven with a later event on the same URL (requests to one URL arrive in
order), never with a fixed sleep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pusher
import pytest

from tests.e2e.server import RunningServer, realtime_server, write_apps_file
from tests.e2e.wsclient import Api, PusherSocket, eventually, unique

DELAY = 1.5


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def events(self) -> list[dict[str, Any]]:
        events = json.loads(self.body)["events"]
        assert isinstance(events, list)
        return events


class Receiver:
    """Records webhook requests per path; answers from a per-path script of statuses, else 200.

    Paths in ``hang`` get no answer until :meth:`release` (a dead endpoint).
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: dict[str, deque[int]] = {}
        self.hang: set[str] = set()
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path in receiver.hang:
                    receiver.released.wait(30)
                with receiver._lock:
                    script = receiver.script.get(self.path)
                    status = script.popleft() if script else 200
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.requests.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def events(self, path: str, channel: str) -> list[dict[str, Any]]:
        """Events about ``channel`` delivered (2xx) to ``path``, in arrival order."""
        return [
            event
            for request in self.received(path)
            if 200 <= request.status < 300
            for event in request.events
            if event["channel"] == channel
        ]

    def wait_for(
        self, path: str, channel: str, check: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        eventually(lambda: check(self.events(path, channel)), timeout=15)
        return self.events(path, channel)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def names(events: list[dict[str, Any]]) -> list[str]:
    return [event["name"] for event in events]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def app(number: int, path: str, receiver: Receiver, **settings: Any) -> dict[str, Any]:
    return {
        "id": f"300{number}",
        "key": f"hook-key-{number}",
        "secret": f"hook-secret-{number}",
        "client_events": True,
        "webhooks": [{"url": receiver.url(path), **settings.pop("webhook", {})}],
        **settings,
    }


@pytest.fixture(scope="module")
def apps(receiver: Receiver) -> dict[str, dict[str, Any]]:
    return {
        "a": app(1, "/a", receiver),
        "b": app(2, "/b", receiver, webhook_batching=True),
        "flaky": app(3, "/flaky", receiver, webhook={"event_types": ["channel_occupied"]}),
        "dead": app(4, "/dead", receiver),
    }


@pytest.fixture(scope="module")
def hooked(
    tmp_path_factory: pytest.TempPathFactory,
    receiver: Receiver,
    apps: dict[str, dict[str, Any]],
) -> Iterator[RunningServer]:
    path = tmp_path_factory.mktemp("webhooks")
    with realtime_server(
        path, list(apps.values()), extra_args=["--webhook-delay", str(DELAY)]
    ) as running:
        yield running


@pytest.fixture
def sockets(hooked: RunningServer) -> Iterator[Callable[[dict[str, Any]], PusherSocket]]:
    opened: list[PusherSocket] = []

    def open_socket(app: dict[str, Any]) -> PusherSocket:
        sock = PusherSocket.open(hooked.ws_url, app["key"])
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


def sdk(app: dict[str, Any]) -> Any:
    return pusher.Pusher(app_id=app["id"], key=app["key"], secret=app["secret"])


def test_requests_verify_with_the_official_sdk(
    receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    a = apps["a"]
    channel = unique("signed")
    sockets(a).subscribe(channel)
    receiver.wait_for("/a", channel, lambda events: len(events) == 1)
    [request] = [r for r in receiver.received("/a") if channel in r.body.decode()]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-pusher-key"] == a["key"]
    signature = request.headers["x-pusher-signature"]
    body = request.body.decode()
    verified = sdk(a).validate_webhook(a["key"], signature, body)
    assert verified == {
        "time_ms": verified["time_ms"],
        "events": [{"name": "channel_occupied", "channel": channel}],
    }
    assert abs(verified["time_ms"] - time.time() * 1000) < 60_000
    assert sdk({**a, "secret": "wrong"}).validate_webhook(a["key"], signature, body) is None


def test_a_page_refresh_sends_neither_vacated_nor_occupied(
    hooked: RunningServer, receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    a = apps["a"]
    api = Api(hooked.host, hooked.port, a)
    channel = unique("refresh")
    old = sockets(a)
    old.subscribe(channel)
    receiver.wait_for("/a", channel, lambda events: len(events) == 1)
    reloaded = sockets(a)
    old.close()
    eventually(lambda: not api.occupied(channel))  # vacated now, and held
    reloaded.subscribe(channel)
    reloaded.close()  # leaves for good: this vacated is sent after the delay
    events = receiver.wait_for("/a", channel, lambda events: "channel_vacated" in names(events))
    assert names(events) == ["channel_occupied", "channel_vacated"]


def test_two_connections_of_one_user_are_one_member(
    hooked: RunningServer, receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    a = apps["a"]
    api = Api(hooked.host, hooked.port, a)
    channel = unique("presence-team")
    first, second = sockets(a), sockets(a)
    first.subscribe_presence(a, channel, "ann")
    second.subscribe_presence(a, channel, "ann")
    receiver.wait_for("/a", channel, lambda events: "member_added" in names(events))
    first.close()
    eventually(lambda: api.channel(channel, "subscription_count")["subscription_count"] == 1)
    second.close()
    events = receiver.wait_for("/a", channel, lambda events: "channel_vacated" in names(events))
    assert events == [
        {"name": "channel_occupied", "channel": channel},
        {"name": "member_added", "channel": channel, "user_id": "ann"},
        {"name": "member_removed", "channel": channel, "user_id": "ann"},
        {"name": "channel_vacated", "channel": channel},
    ]


def test_client_events_carry_user_id_on_presence_channels_only(
    receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    a = apps["a"]
    private, presence = unique("private-chat"), unique("presence-chat")
    sender, listener = sockets(a), sockets(a)
    sender.subscribe_private(a, private)
    listener.subscribe_private(a, private)
    sender.subscribe_presence(a, presence, 7)
    listener.subscribe_presence(a, presence, 8)
    sender.send_event("client-typing", {"text": "hi"}, private)
    sender.send_event("client-typing", {"text": "hey"}, presence)
    assert listener.expect("client-typing", private).data == '{"text":"hi"}'
    for channel, user in ((private, None), (presence, {"user_id": "7"})):
        events = receiver.wait_for("/a", channel, lambda events: "client_event" in names(events))
        assert [e for e in events if e["name"] == "client_event"] == [
            {
                "name": "client_event",
                "channel": channel,
                "event": "client-typing",
                "data": json.dumps(
                    {"text": "hi" if user is None else "hey"}, separators=(",", ":")
                ),
                "socket_id": sender.socket_id,
                **(user or {}),
            }
        ]


def test_cache_miss(receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any) -> None:
    channel = unique("cache-prices")
    sock = sockets(apps["a"])
    sock.subscribe(channel)
    sock.expect("pusher:cache_miss", channel)
    events = receiver.wait_for("/a", channel, lambda events: len(events) == 2)
    assert names(events) == ["channel_occupied", "cache_miss"]


def test_a_500_is_retried_and_delivered_once(
    receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    flaky = apps["flaky"]
    receiver.script["/flaky"] = deque([500])
    channel, later = unique("retried"), unique("later")
    sockets(flaky).subscribe(channel)
    receiver.wait_for("/flaky", channel, lambda events: len(events) == 1)
    sockets(flaky).subscribe(later)
    receiver.wait_for("/flaky", later, lambda events: len(events) == 1)
    requests = [r for r in receiver.received("/flaky") if channel in r.body.decode()]
    assert [r.status for r in requests] == [500, 200]
    assert requests[0].body == requests[1].body
    assert requests[0].headers["x-pusher-signature"] == requests[1].headers["x-pusher-signature"]
    assert sdk(flaky).validate_webhook(
        flaky["key"], requests[1].headers["x-pusher-signature"], requests[1].body.decode()
    )


def test_batching_is_per_app(
    receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    batched, single = unique("presence-b"), unique("presence-a")
    sockets(apps["b"]).subscribe_presence(apps["b"], batched, "ann")
    sockets(apps["a"]).subscribe_presence(apps["a"], single, "ann")
    receiver.wait_for("/b", batched, lambda events: len(events) == 2)
    receiver.wait_for("/a", single, lambda events: len(events) == 2)
    for path, channel, sizes in (("/b", batched, [2]), ("/a", single, [1, 1])):
        requests = [r for r in receiver.received(path) if channel in r.body.decode()]
        assert [len(r.events) for r in requests] == sizes, path


def test_each_app_posts_only_its_own_events_to_its_own_url(
    receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    only_a, only_b = unique("private-a"), unique("private-b")
    sockets(apps["a"]).subscribe_private(apps["a"], only_a)
    sockets(apps["b"]).subscribe_private(apps["b"], only_b)
    receiver.wait_for("/a", only_a, lambda events: len(events) == 1)
    receiver.wait_for("/b", only_b, lambda events: len(events) == 1)
    for path, mine, theirs in (("/a", apps["a"], only_b), ("/b", apps["b"], only_a)):
        for request in receiver.received(path):
            assert request.headers["x-pusher-key"] == mine["key"]
            assert theirs not in request.body.decode()
            signature = request.headers["x-pusher-signature"]
            body = request.body.decode()
            assert sdk(mine).validate_webhook(mine["key"], signature, body) is not None


def test_a_dead_endpoint_does_not_slow_broadcasts(
    hooked: RunningServer, receiver: Receiver, apps: dict[str, dict[str, Any]], sockets: Any
) -> None:
    dead = apps["dead"]
    receiver.hang.add("/dead")
    try:
        listener = sockets(dead)
        for index in range(20):  # every one queues webhooks the endpoint never answers
            churn = sockets(dead)
            churn.subscribe_presence(dead, unique("presence-churn"), index)
            churn.close()
        channel = unique("news")
        listener.subscribe(channel)
        api = Api(hooked.host, hooked.port, dead)
        started = time.monotonic()
        for index in range(50):
            api.publish_ok(channel, "update", str(index))
        received = [listener.expect("update", channel).data for _ in range(50)]
        assert received == [str(index) for index in range(50)]
        assert time.monotonic() - started < 10  # a blocking webhook would take 4 s per request
        assert hooked.health()["status"] == "ok"
    finally:
        receiver.hang.discard("/dead")
        receiver.released.set()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        (
            [{"url": "ftp://example.com/hooks"}],
            "webhook #1: url 'ftp://example.com/hooks' must be an absolute http:// or https:// URL",
        ),
        (
            [{"url": "http://example.com", "event_types": ["channel_existence"]}],
            "webhook #1: unknown event type(s) channel_existence; choose from",
        ),
        ([{"event_types": ["member_added"]}], "webhook #1: url is missing"),
    ],
)
def test_invalid_webhook_settings_refuse_to_start(
    tmp_path: Path, webhooks: list[dict[str, Any]], message: str
) -> None:
    apps_file = write_apps_file(
        tmp_path / "apps.toml",
        [{"id": "1", "key": "k", "secret": "s", "webhooks": webhooks}],
    )
    result = run_realtime("--apps-file", str(apps_file))
    assert result.returncode == 2, result
    assert result.stderr.startswith(f"leadcast realtime: error: {apps_file}: app #1: {message}")
    assert "listening" not in result.stdout


def test_invalid_webhook_delay_refuses_to_start(tmp_path: Path) -> None:
    apps_file = write_apps_file(tmp_path / "apps.toml", [{"id": "1", "key": "k", "secret": "s"}])
    result = run_realtime("--apps-file", str(apps_file), "--webhook-delay", "-1")
    assert result.returncode == 2, result
    assert result.stderr == (
        "leadcast realtime: error: --webhook-delay must be 0-60 seconds, not -1.0\n"
    )


def run_realtime(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "leadcast", "realtime", "--port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
