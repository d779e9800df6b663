"""Ports of the real-time node: what it needs from the transport and from webhooks."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from leadcast.protocol.apps import App
from leadcast.protocol.session import Session

__all__ = ["Peer", "WebhookPoster", "WebhookSink", "Writer"]


class Peer(Protocol):
    """One client connection, as the node sees it."""

    session: Session


class Writer(Protocol):
    """Delivers encoded WebSocket frames. Frames to one peer arrive in call order."""

    def send(self, peer: Peer, frame: bytes) -> None:
        """Queue ``frame`` for ``peer``."""

    def broadcast(self, frame: bytes, peers: Collection[Peer], exclude: Peer | None) -> None:
        """Queue the same ``frame`` for every peer but ``exclude``; ``peers`` is not kept."""

    def close(self, peer: Peer, code: int, reason: str) -> None:
        """Close ``peer`` with a WebSocket close code, after the frames already queued."""


class WebhookSink(Protocol):
    """Hears what the app's webhooks report. Every call only queues: cheap, never blocking.

    The node calls it for apps that have webhooks, at most once per state change:
    ``member_added`` on a user's first connection to a presence channel, ``member_removed``
    when their last one leaves.
    """

    def channel_occupied(self, app: App, channel: str) -> None:
        """``channel`` got its first subscriber."""

    def channel_vacated(self, app: App, channel: str) -> None:
        """``channel`` lost its last subscriber."""

    def member_added(self, app: App, channel: str, user_id: str) -> None:
        """``user_id`` joined the presence ``channel``."""

    def member_removed(self, app: App, channel: str, user_id: str) -> None:
        """``user_id`` left the presence ``channel``."""

    def client_event(
        self, app: App, channel: str, event: str, data: str, socket_id: str, user_id: str | None
    ) -> None:
        """A client sent ``event`` on ``channel``; ``user_id`` on presence channels only."""

    def cache_miss(self, app: App, channel: str) -> None:
        """A client subscribed to the cache ``channel`` while it had no event cached."""


class WebhookPoster(Protocol):
    """Sends one webhook request."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url``; return the HTTP status.

        Raises:
            WebhookPostError: no response (connection refused, reset, timed out).
        """

    async def aclose(self) -> None:
        """Release connections."""
