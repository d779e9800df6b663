"""Where outbox events go: the Broadcaster port and its implementations.

- ``PusherBroadcaster``: the signed Pusher HTTP API (``POST /apps/{id}/events`` and
  ``/batch_events``), to our ``leadcast realtime`` server or to hosted Pusher, unchanged.
- ``LogBroadcaster``: writes each event to the log (``BROADCAST_DRIVER=log``).
- ``NullBroadcaster``: drops them (``BROADCAST_DRIVER=null``).

``build_broadcaster(settings)`` picks one from the settings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from leadcast.config import Settings
from leadcast.protocol.signatures import body_md5, request_signature

__all__ = [
    "MAX_BATCH",
    "BroadcastError",
    "Broadcaster",
    "LogBroadcaster",
    "NullBroadcaster",
    "OutgoingEvent",
    "PusherBroadcaster",
    "build_broadcaster",
]

MAX_BATCH = 10
"""Most events in one ``batch_events`` request (Pusher's limit)."""

log = logging.getLogger("leadcast.relay")


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One event for one channel; ``data`` is the JSON text the clients receive."""

    channel: str
    name: str
    data: str


# 408 and 429 say "later"; 401, 403 and 404 say the configuration is wrong, which holds for
# every event alike: failing them for good would dead-letter everything until it is fixed.
_RETRY_STATUSES = frozenset({401, 403, 404, 408, 429})
_CONFIGURATION_HINTS = {
    401: " (check PUSHER_APP_KEY / PUSHER_APP_SECRET and this machine's clock)",
    403: " (the app is disabled or over its quota on the server)",
    404: " (check PUSHER_APP_ID and PUSHER_HOST / PUSHER_PORT)",
}


class BroadcastError(Exception):
    """Publishing failed.

    Attributes:
        retryable: whether the same request may succeed later: network trouble, a timeout,
            5xx, 408, 429, and the refusals that say the configuration is wrong rather than
            the event (401 bad credentials or clock, 403 app disabled or over quota, 404
            unknown app), which succeed once it is put right. ``False`` when the server
            refused the event itself (any other 4xx, e.g. 400 bad channel or event, 413 too
            large): sending it again would get the same answer.
        status: the HTTP status, or ``None`` when no answer came.
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Broadcaster(Protocol):
    """Publishes events to subscribers' channels."""

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        """Publish up to :data:`MAX_BATCH` events; all are accepted or it raises.

        Raises:
            BroadcastError: nothing can be assumed delivered.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class NullBroadcaster:
    """Accepts and drops every event."""

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        return None

    async def aclose(self) -> None:
        return None


class LogBroadcaster:
    """Logs every event (channel, name and data) at INFO on ``leadcast.relay``."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        for event in events:
            self._log.info("broadcast %s on %s: %s", event.name, event.channel, event.data)

    async def aclose(self) -> None:
        return None


class PusherBroadcaster:
    """The Pusher HTTP API client, signed with :mod:`leadcast.protocol.signatures`."""

    def __init__(
        self,
        *,
        app_id: str,
        key: str,
        secret: str,
        base_url: str,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Args:
        app_id: the app's id, as in ``/apps/{id}/events``.
        key: the app key (``auth_key``).
        secret: the app secret that signs requests.
        base_url: ``scheme://host:port`` of the API.
        timeout: seconds per request; keep it well under the relay's lease.
        client: an ``httpx.AsyncClient`` to use (e.g. with a mock transport); by
            default one is made and closed by :meth:`aclose`.
        clock: seconds since the epoch, for ``auth_timestamp``.
        """
        self._app_id = app_id
        self._key = key
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)
        )
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> PusherBroadcaster:
        return cls(
            app_id=settings.pusher_app_id,
            key=settings.pusher_app_key,
            secret=settings.pusher_app_secret,
            base_url=settings.pusher_base_url,
        )

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        if not events:
            return
        if len(events) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} events per publish, got {len(events)}")
        if len(events) == 1:
            event = events[0]
            path = f"/apps/{self._app_id}/events"
            body = {"name": event.name, "channel": event.channel, "data": event.data}
            await self._post(path, body)
            return
        batch = [{"channel": e.channel, "name": e.name, "data": e.data} for e in events]
        await self._post(f"/apps/{self._app_id}/batch_events", {"batch": batch})

    async def _post(self, path: str, body: object) -> None:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        params = {
            "auth_key": self._key,
            "auth_timestamp": str(int(self._clock())),
            "auth_version": "1.0",
            "body_md5": body_md5(content),
        }
        params["auth_signature"] = request_signature(self._secret, "POST", path, params)
        try:
            response = await self._client.post(
                self._base_url + path,
                params=params,
                content=content,
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise BroadcastError(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 300:
            status = response.status_code
            hint = _CONFIGURATION_HINTS.get(status, "")
            raise BroadcastError(
                f"HTTP {status} from {path}: {response.text[:300]}{hint}",
                retryable=status >= 500 or status in _RETRY_STATUSES,
                status=status,
            )

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()


def build_broadcaster(settings: Settings) -> Broadcaster:
    """The broadcaster ``BROADCAST_DRIVER`` names."""
    if settings.broadcast_driver == "pusher":
        return PusherBroadcaster.from_settings(settings)
    if settings.broadcast_driver == "log":
        return LogBroadcaster()
    return NullBroadcaster()
