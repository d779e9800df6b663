"""Delivery of outbox rows to a broadcaster (Pusher HTTP API, log, or nothing)."""

from leadcast.relay.broadcasters import (
    MAX_BATCH,
    Broadcaster,
    BroadcastError,
    LogBroadcaster,
    NullBroadcaster,
    OutgoingEvent,
    PusherBroadcaster,
    build_broadcaster,
)
from leadcast.relay.outbox import Relay, RelayOptions

__all__ = [
    "MAX_BATCH",
    "BroadcastError",
    "Broadcaster",
    "LogBroadcaster",
    "NullBroadcaster",
    "OutgoingEvent",
    "PusherBroadcaster",
    "Relay",
    "RelayOptions",
    "build_broadcaster",
]
