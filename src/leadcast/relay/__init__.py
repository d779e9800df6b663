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
from leadcast.relay.deadletters import (
    NotFailed,
    OutboxStatus,
    RowError,
    format_status,
    outbox_status,
    requeue_all_failed,
    requeue_failed,
)
from leadcast.relay.outbox import Relay, RelayOptions

__all__ = [
    "MAX_BATCH",
    "BroadcastError",
    "Broadcaster",
    "LogBroadcaster",
    "NotFailed",
    "NullBroadcaster",
    "OutboxStatus",
    "OutgoingEvent",
    "PusherBroadcaster",
    "Relay",
    "RelayOptions",
    "RowError",
    "build_broadcaster",
    "format_status",
    "outbox_status",
    "requeue_all_failed",
    "requeue_failed",
]
