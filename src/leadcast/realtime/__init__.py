"""The real-time server: the Pusher protocol over asyncio, WebSocket and HTTP on one port."""

from leadcast.realtime.node import Node
from leadcast.realtime.rest import RestApi
from leadcast.realtime.server import Outbox, RealtimeServer

__all__ = ["Node", "Outbox", "RealtimeServer", "RestApi"]
