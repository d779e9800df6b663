"""Test doubles for the node's ports: a recording :class:`Writer` and a fake :class:`Peer`."""

from __future__ import annotations

import json
import struct
from collections.abc import Awaitable, Collection, Coroutine
from typing import Any, TypeVar

from leadcast.protocol.session import Session
from leadcast.realtime.ports import Peer

__all__ = ["FakePeer", "RecordingWriter", "decode_frame", "payload", "run_sync"]


T = TypeVar("T")


def run_sync(awaitable: Awaitable[T]) -> T:
    """The result of a coroutine that never waits (the memory backend's queries), without an
    event loop; fails if it does wait."""
    assert isinstance(awaitable, Coroutine), awaitable
    try:
        awaitable.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    awaitable.close()
    raise AssertionError("the coroutine waited for something")


class FakePeer:
    """A connection as the node sees it: only a session. Hashed and compared by identity."""

    __slots__ = ("name", "session")

    def __init__(self, session: Session, name: str | None = None) -> None:
        self.session = session
        self.name = name or session.socket_id

    def __repr__(self) -> str:
        return f"FakePeer({self.name!r})"


def decode_frame(frame: bytes) -> str:
    """The text of one final, unmasked server text frame; fails on anything else."""
    assert len(frame) >= 2, frame
    first, second = frame[0], frame[1]
    assert first == 0x81, f"not a final text frame: {first:#x}"
    assert not second & 0x80, "server frames must not be masked"
    length = second & 0x7F
    offset = 2
    if length == 126:
        (length,) = struct.unpack_from("!H", frame, 2)
        offset = 4
        assert length >= 126, "length not minimally encoded"
    elif length == 127:
        (length,) = struct.unpack_from("!Q", frame, 2)
        offset = 10
        assert length >= 1 << 16, "length not minimally encoded"
    assert len(frame) == offset + length, "frame length does not match its header"
    return frame[offset:].decode("utf-8")


def payload(message: dict[str, Any]) -> Any:
    """A server message's ``data``, decoded from its JSON string."""
    data = message["data"]
    assert isinstance(data, str), f"data must be a JSON string: {data!r}"
    return json.loads(data)


class RecordingWriter:
    """Implements the Writer port by recording what each peer would receive.

    ``delivered`` holds ``(peer, decoded JSON message)`` in delivery order, one entry per
    recipient: a broadcast is recorded once for every peer but the excluded one.
    ``broadcasts`` keeps each broadcast call as given (frame, recipients, exclude) and
    ``closes`` each close as ``(peer, code, reason)``.
    """

    def __init__(self) -> None:
        self.delivered: list[tuple[Peer, dict[str, Any]]] = []
        self.frames: list[tuple[Peer, bytes]] = []
        self.broadcasts: list[tuple[bytes, tuple[Peer, ...], Peer | None]] = []
        self.closes: list[tuple[Peer, int, str]] = []

    # -- the Writer port -----------------------------------------------------------------------

    def send(self, peer: Peer, frame: bytes) -> None:
        self._deliver(peer, frame)

    def broadcast(self, frame: bytes, peers: Collection[Peer], exclude: Peer | None) -> None:
        recipients = tuple(peers)  # the port does not keep ``peers``
        self.broadcasts.append((frame, recipients, exclude))
        for peer in recipients:
            if peer is not exclude:
                self._deliver(peer, frame)

    def close(self, peer: Peer, code: int, reason: str) -> None:
        self.closes.append((peer, code, reason))

    # -- queries -------------------------------------------------------------------------------

    def _deliver(self, peer: Peer, frame: bytes) -> None:
        self.frames.append((peer, frame))
        self.delivered.append((peer, json.loads(decode_frame(frame))))

    def to(self, peer: Peer) -> list[dict[str, Any]]:
        """Every message ``peer`` received, in order."""
        return [message for recipient, message in self.delivered if recipient is peer]

    def events(self, peer: Peer) -> list[str]:
        return [message["event"] for message in self.to(peer)]

    def recipients(self, event: str) -> list[Peer]:
        """The peers that received ``event``, in delivery order."""
        return [peer for peer, message in self.delivered if message["event"] == event]

    def clear(self) -> None:
        self.delivered.clear()
        self.frames.clear()
        self.broadcasts.clear()
        self.closes.clear()
