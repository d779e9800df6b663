"""The webhook poster over ``httpx``: one shared async client with keep-alive."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import httpx

from leadcast import __version__
from leadcast.realtime.webhooks import WebhookPostError

__all__ = ["MAX_RESPONSE_BYTES", "HttpxPoster"]

#: Response bytes read at most; receivers answer with little, and nothing here needs it.
MAX_RESPONSE_BYTES = 65_536


class HttpxPoster:
    """The :class:`~leadcast.realtime.ports.WebhookPoster` over ``httpx``, with keep-alive.

    Args:
        timeout: seconds for each phase (connect, write, read) of a request.
        client: an ``httpx.AsyncClient`` to use instead of a new one.
    """

    def __init__(self, timeout: float = 4.0, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"User-Agent": f"leadcast-webhooks/{__version__}"},
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > MAX_RESPONSE_BYTES:
                        break
                return response.status_code
        except httpx.HTTPError as error:
            raise WebhookPostError(f"{type(error).__name__}: {error}".rstrip(": ")) from None

    async def aclose(self) -> None:
        with contextlib.suppress(httpx.HTTPError, OSError):
            await self._client.aclose()
