"""Failed-login throttling: a small port and its in-memory implementation.

Theory of operation
===================

Every login attempt is counted, before the password is hashed, against two keys: the email
it names and the client (IP address) it comes from. Each key has a sliding window
(:class:`LoginLimits`): once a key holds ``max`` attempts younger than ``window``, further
attempts are refused without hashing anything until the oldest one ages out. An attempt is
counted when it starts, so many parallel guesses cannot all slip past the check; a successful
one is then taken back from the client's count and wipes the email's, so only failures stay.

The per-email limit is the strict one (a password guess costs the attacker a slot of that
account); the per-client limit is looser (offices share an address) and stops one client from
spraying many accounts. Refused attempts are not counted, so the window always ends.

:class:`MemoryLoginThrottle` keeps the windows in this process (bounded; the least recently
used keys go first), which suits a single API process. Several processes behind one address
would each count separately: a shared store (Redis) can implement :class:`LoginThrottle`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["LoginLimits", "LoginThrottle", "MemoryLoginThrottle"]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many attempts each key may make per sliding window.

    Attributes:
        per_email: attempts (failures, once done) per email address.
        per_client: attempts per client address, over every email.
        window: the window, in seconds.
        max_keys: most keys remembered per kind; the least recently used are forgotten.
    """

    per_email: int = 5
    per_client: int = 50
    window: float = 15 * 60.0
    max_keys: int = 10_000


class LoginThrottle(Protocol):
    """Counts login attempts per email and per client address."""

    def attempt(self, email: str, client: str | None) -> int:
        """Count an attempt, unless the email or the client is over its limit.

        Args:
            email: the normalised email the attempt names.
            client: the client's address, ``None`` when unknown (then only the email counts).

        Returns:
            0 when the attempt was counted and may go ahead; otherwise the whole seconds
            (at least 1) until one is allowed, and nothing was counted.
        """
        ...

    def succeeded(self, email: str, client: str | None) -> None:
        """The attempt counted by :meth:`attempt` was right: forget the email's attempts and
        take this one back from the client's count."""
        ...


class _Windows:
    """Attempt times per key, each list younger than ``window``; bounded LRU."""

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self._window = window
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._times[key]
            return 0.0
        self._times.move_to_end(key)
        return times[0] + self._window - now if len(times) >= self.limit else 0.0

    def add(self, key: str, now: float) -> None:
        self._times.setdefault(key, deque()).append(now)
        self._times.move_to_end(key)
        while len(self._times) > self._max_keys:
            self._times.popitem(last=False)

    def take_back(self, key: str) -> None:
        times = self._times.get(key)
        if times:
            times.pop()
            if not times:
                del self._times[key]

    def forget(self, key: str) -> None:
        self._times.pop(key, None)


class MemoryLoginThrottle:
    """:class:`LoginThrottle` in this process's memory (thread-safe).

    Args:
        limits: the limits.
        clock: seconds from any fixed point (monotonic by default; tests pass a fake).
    """

    def __init__(
        self, limits: LoginLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or LoginLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._emails = _Windows(self.limits.per_email, self.limits.window, self.limits.max_keys)
        self._clients = _Windows(self.limits.per_client, self.limits.window, self.limits.max_keys)

    def attempt(self, email: str, client: str | None) -> int:
        with self._lock:
            now = self._clock()
            wait = self._emails.wait(email, now)
            if client is not None:
                wait = max(wait, self._clients.wait(client, now))
            if wait > 0:
                return max(1, math.ceil(wait))
            self._emails.add(email, now)
            if client is not None:
                self._clients.add(client, now)
            return 0

    def succeeded(self, email: str, client: str | None) -> None:
        with self._lock:
            self._emails.forget(email)
            if client is not None:
                self._clients.take_back(client)
