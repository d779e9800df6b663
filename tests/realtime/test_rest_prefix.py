"""The HTTP API under ``--path-prefix``: which signed path forms are accepted, and routing."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from leadcast.protocol import App, AppRegistry, Session
from leadcast.protocol.signatures import body_md5, request_signature
from leadcast.realtime.node import Node
from leadcast.realtime.rest import Response, RestApi
from tests.realtime.fakes import FakePeer, RecordingWriter

NOW = 1_700_000_000.0
APP = App("1", "key-1", "secret-1")
BODY = json.dumps({"name": "lead", "channel": "leads", "data": "{}"}).encode()


class Prefixed:
    """A node with one subscriber on ``leads`` and the API served under ``/ws``."""

    def __init__(self, prefix: str = "/ws") -> None:
        self.writer = RecordingWriter()
        self.node = Node(AppRegistry([APP]), self.writer)
        self.api = RestApi(AppRegistry([APP]), self.node, path_prefix=prefix)
        peer = FakePeer(Session(APP, "1.1", NOW))
        self.node.connect(peer, NOW)
        subscribe = {"event": "pusher:subscribe", "data": {"channel": "leads"}}
        self.node.receive(peer, json.dumps(subscribe), NOW)
        self.writer.delivered.clear()

    def post(self, sent_to: str, signed_over: str, *, secret: str = APP.secret) -> Response:
        """Sign over ``signed_over``, send to ``sent_to``; a path outside the API is a 404."""
        params = {
            "auth_key": APP.key,
            "auth_timestamp": str(int(NOW)),
            "auth_version": "1.0",
            "body_md5": body_md5(BODY),
        }
        params["auth_signature"] = request_signature(secret, "POST", signed_over, params)
        response = self.api.handle("POST", sent_to, urlencode(params), BODY, NOW)
        return Response(404, {}) if response is None else response

    def published(self) -> int:
        return len(self.writer.delivered)


@pytest.mark.parametrize(
    ("sent_to", "signed_over"),
    [
        ("/ws/apps/1/events", "/ws/apps/1/events"),  # the SDK signs the path it posts to
        ("/ws/apps/1/events", "/apps/1/events"),  # a proxy added the prefix
        ("/apps/1/events", "/apps/1/events"),  # unprefixed still works
        ("/ws/apps/1/%65vents", "/ws/apps/1/events"),  # escaped, signed unescaped
        ("/ws/apps/1/%65vents", "/apps/1/events"),  # escaped and prefixed
        ("/ws/apps/1/%65vents", "/apps/1/%65vents"),  # as sent, without the prefix
    ],
)
def test_a_signature_over_any_form_of_the_path_is_accepted(sent_to: str, signed_over: str) -> None:
    world = Prefixed()

    response = world.post(sent_to, signed_over)

    assert (response.status, response.body) == (200, {})
    assert world.published() == 1


@pytest.mark.parametrize(
    ("sent_to", "signed_over"),
    [
        ("/ws/apps/1/events", "/other/apps/1/events"),  # some other prefix
        ("/apps/1/events", "/ws/apps/1/events"),  # sent unprefixed, signed prefixed
        ("/ws/apps/1/events", "/ws/apps/1/batch_events"),  # another endpoint
        ("/wsx/apps/1/events", "/apps/1/events"),  # not the prefix, only starts like it
    ],
)
def test_other_paths_are_refused_and_nothing_is_published(sent_to: str, signed_over: str) -> None:
    world = Prefixed()

    response = world.post(sent_to, signed_over)

    assert response.status in (401, 404), response
    assert world.published() == 0


def test_a_wrong_secret_over_the_prefixed_path_is_401() -> None:
    world = Prefixed()

    response = world.post("/ws/apps/1/events", "/ws/apps/1/events", secret="wrong")

    assert (response.status, response.body) == (
        401,
        {"error": "authentication failed: invalid auth_signature"},
    )
    assert world.published() == 0


def test_without_a_prefix_a_prefixed_signature_is_refused() -> None:
    world = Prefixed(prefix="")

    assert world.post("/apps/1/events", "/ws/apps/1/events").status == 401
    assert world.post("/ws/apps/1/events", "/ws/apps/1/events").status == 404
    assert world.published() == 0
