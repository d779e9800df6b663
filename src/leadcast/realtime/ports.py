"""Ports of the real-time node: what it needs from the transport, nothing more."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from leadcast.protocol.session import Session

__all__ = ["Peer", "Writer"]


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
