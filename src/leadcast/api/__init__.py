"""The HTTP API (FastAPI): auth, leads, notifications, broadcasting auth, admin."""

from leadcast.api.app import create_api
from leadcast.api.deps import Services

__all__ = ["Services", "create_api"]
