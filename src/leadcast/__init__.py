"""leadcast: real-time lead alerts over a Pusher-protocol compatible WebSocket server."""

__all__ = ["__version__"]

__version__ = "0.1.0"
