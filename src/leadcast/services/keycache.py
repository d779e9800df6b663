"""Active lead-source API keys recently verified, so submissions skip a database read."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from leadcast.services.profiles import ApiKeyView

__all__ = ["API_KEYS", "API_KEY_CACHE_SECONDS", "ApiKeyCache"]

API_KEY_CACHE_SECONDS = 5.0
"""How long a verified API key is trusted without reading the database again. A key revoked
in this process is forgotten at once; one revoked by another process still works here for at
most this long."""


class ApiKeyCache:
    """Active API keys recently verified, by (database, SHA-256 of the key), shared by every
    ``Accounts`` of the process so that a revocation through any of them is seen at once.

    Entries expire after ``ttl`` seconds. A revocation bumps ``generation``: a verification
    that read the database before the revocation committed may not then cache its result.
    """

    def __init__(self, ttl: float, size: int = 1024) -> None:
        self._ttl = ttl
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[float, ApiKeyView]] = OrderedDict()
        self.generation = 0

    def get(self, scope: str, key_hash: str) -> ApiKeyView | None:
        with self._lock:
            entry = self._entries.get((scope, key_hash))
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[(scope, key_hash)]
                return None
            return entry[1]

    def put(self, scope: str, key_hash: str, view: ApiKeyView, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return  # a key was revoked meanwhile: the row read may be stale
            self._entries[(scope, key_hash)] = (time.monotonic() + self._ttl, view)
            self._entries.move_to_end((scope, key_hash))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, scope: str, key_id: int) -> None:
        with self._lock:
            self.generation += 1
            for entry_key in [
                k for k, (_, v) in self._entries.items() if k[0] == scope and v.id == key_id
            ]:
                del self._entries[entry_key]


API_KEYS = ApiKeyCache(API_KEY_CACHE_SECONDS)
"""The process's cache, shared by every ``Accounts``."""
