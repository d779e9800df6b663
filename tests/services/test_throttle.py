"""The in-memory login throttle: sliding windows per email and per client, bounded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadcast.services.throttle import LoginLimits, LoginThrottle, MemoryLoginThrottle


@dataclass
class Seconds:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Seconds, **limits: Any) -> MemoryLoginThrottle:
    return MemoryLoginThrottle(LoginLimits(**limits), clock=clock)


def test_the_attempt_after_the_limit_waits_for_the_oldest_to_age_out() -> None:
    clock = Seconds()
    limiter = throttle(clock, per_email=3, window=60)
    for _ in range(3):
        assert limiter.attempt("a@example.com", "10.0.0.1") == 0
        clock.now += 10
    assert limiter.attempt("a@example.com", "10.0.0.1") == 30  # the first was at 1000
    clock.now += 29.5
    assert limiter.attempt("a@example.com", "10.0.0.1") == 1  # rounded up, never 0
    clock.now += 0.5
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0
    assert limiter.attempt("a@example.com", "10.0.0.1") == 10  # the second was at 1010


def test_refused_attempts_are_not_counted() -> None:
    clock = Seconds()
    limiter = throttle(clock, per_email=1, window=60)
    assert limiter.attempt("a@example.com", None) == 0
    for _ in range(100):
        assert limiter.attempt("a@example.com", None) == 60
    clock.now += 60
    assert limiter.attempt("a@example.com", None) == 0


def test_emails_and_clients_are_counted_apart() -> None:
    clock = Seconds()
    limiter = throttle(clock, per_email=2, per_client=3, window=60)
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0
    assert limiter.attempt("a@example.com", "10.0.0.2") == 60  # the email is over
    assert limiter.attempt("b@example.com", "10.0.0.1") == 0  # another email is not
    assert limiter.attempt("c@example.com", "10.0.0.1") == 60  # the client is over
    assert limiter.attempt("c@example.com", "10.0.0.2") == 0
    assert limiter.attempt("c@example.com", None) == 0  # no address: only the email counts


def test_success_forgets_the_email_and_takes_the_attempt_back_from_the_client() -> None:
    clock = Seconds()
    limiter = throttle(clock, per_email=2, per_client=3, window=60)
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0
    limiter.succeeded("a@example.com", "10.0.0.1")
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0  # email: 1 of 2; client: 2 of 3
    assert limiter.attempt("a@example.com", "10.0.0.1") == 0  # email: 2 of 2; client: 3 of 3
    assert limiter.attempt("b@example.com", "10.0.0.1") == 60


def test_memory_is_bounded() -> None:
    clock = Seconds()
    limiter = throttle(clock, per_email=1, window=60, max_keys=3)
    for n in range(4):
        assert limiter.attempt(f"{n}@example.com", None) == 0
    assert limiter.attempt("0@example.com", None) == 0  # the least recently used went first
    assert limiter.attempt("3@example.com", None) == 60


def test_the_memory_throttle_is_a_login_throttle() -> None:
    limiter: LoginThrottle = MemoryLoginThrottle()
    assert limiter.attempt("a@example.com", "::1") == 0
