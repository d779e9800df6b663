"""A Pusher HTTP API on loopback that answers as a test says, for the relay's failure paths.

The real ``leadcast realtime`` server answers 200 to anything valid; to see the relay handle a
500 followed by a 200, or a 400 carrying a server's message, the tests need a server they can
script. This one is a real HTTP server (``http.server`` in a thread) that checks each request's
signature like Pusher does (401 if it does not verify), records the events of every request,
and answers with what ``answer(events)`` returns.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from leadcast.protocol.errors import PusherError
from leadcast.protocol.signatures import verify_request
from leadcast.relay import OutgoingEvent, PusherBroadcaster

__all__ = ["KEY", "SECRET", "Answer", "StubPusher", "stub_pusher"]

APP_ID = "stub"
KEY = "stub-key"
SECRET = "stub-secret"

Answer = Callable[[list[OutgoingEvent]], int]
"""What the server answers a request carrying these events with (an HTTP status)."""


@dataclass
class StubPusher:
    base_url: str
    answer: Answer
    requests: list[tuple[list[OutgoingEvent], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def delivered(self) -> list[OutgoingEvent]:
        """Events of the requests answered 2xx, in order."""
        with self.lock:
            return [e for events, status in self.requests if status < 300 for e in events]

    @property
    def calls(self) -> int:
        with self.lock:
            return len(self.requests)

    def broadcaster(self, timeout: float = 10.0) -> PusherBroadcaster:
        return PusherBroadcaster(
            app_id=APP_ID, key=KEY, secret=SECRET, base_url=self.base_url, timeout=timeout
        )


def always(status: int) -> Answer:
    return lambda events: status


@contextmanager
def stub_pusher(answer: Answer | None = None) -> Iterator[StubPusher]:
    """Run a :class:`StubPusher` (answering 200 by default) until the block exits."""
    stub = StubPusher("", answer or always(200))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                verify_request(
                    key=KEY,
                    secret=SECRET,
                    method="POST",
                    path=url.path,
                    params=dict(parse_qsl(url.query)),
                    body=body,
                    now=time.time(),
                )
            except PusherError as error:
                self._reply(401, {"error": str(error)})
                return
            sent = json.loads(body)
            items = sent["batch"] if url.path.endswith("/batch_events") else [sent]
            events = [OutgoingEvent(i["channel"], i["name"], i["data"]) for i in items]
            status = stub.answer(events)
            with stub.lock:
                stub.requests.append((events, status))
            message = "ok" if status < 300 else f"stub says {status} to {events[0].channel}"
            self._reply(status, {} if status < 300 else {"error": message})

        def _reply(self, status: int, payload: object) -> None:
            content = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
