"""The httpx webhook poster: the request it sends, statuses back, transport errors raised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from leadcast.realtime.webhook_http import MAX_RESPONSE_BYTES, HttpxPoster
from leadcast.realtime.webhooks import WebhookPostError


def poster_for(handler: httpx.MockTransport) -> HttpxPoster:
    return HttpxPoster(client=httpx.AsyncClient(transport=handler))


class Chunks(httpx.AsyncByteStream):
    """A streamed response body that counts the chunks read from it."""

    def __init__(self, count: int, size: int = 16_384) -> None:
        self.count, self.size, self.read = count, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.read += 1
            yield b"x" * self.size


def test_posts_the_body_and_headers_and_returns_the_status() -> None:
    seen: list[httpx.Request] = []
    body = Chunks(count=100)  # 1.6 MB, far more than is read

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, stream=body)

    poster = poster_for(httpx.MockTransport(handle))

    async def main() -> int:
        try:
            return await poster.post("http://h.test/hook", b'{"a":1}', {"X-Pusher-Key": "k"})
        finally:
            await poster.aclose()

    assert asyncio.run(main()) == 503
    [request] = seen
    assert (request.method, str(request.url), request.content) == (
        "POST",
        "http://h.test/hook",
        b'{"a":1}',
    )
    assert request.headers["X-Pusher-Key"] == "k"
    assert body.read * body.size <= MAX_RESPONSE_BYTES + body.size


def test_a_transport_error_becomes_a_webhook_post_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    poster = poster_for(httpx.MockTransport(handle))

    async def main() -> None:
        try:
            await poster.post("http://h.test/hook", b"{}", {})
        finally:
            await poster.aclose()

    with pytest.raises(WebhookPostError, match=r"^ConnectError: connection refused$"):
        asyncio.run(main())


def test_the_default_client_sends_a_user_agent_and_no_redirects() -> None:
    poster = HttpxPoster(timeout=1.5)
    client = poster._client
    assert client.headers["User-Agent"].startswith("leadcast-webhooks/")
    assert client.follow_redirects is False
    assert client.timeout == httpx.Timeout(1.5)
    asyncio.run(poster.aclose())
