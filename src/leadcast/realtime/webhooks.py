"""Pusher webhooks: what the node reports, queued per (app, URL), posted in the background.

Theory of operation
-------------------
The node calls :class:`Webhooks` (its :class:`~leadcast.realtime.ports.WebhookSink`) when a
channel is occupied or vacated, a presence member is added or removed, a client event is
relayed or a cache channel misses. Each call is a few dictionary operations and an append:
the event is stamped with the wall-clock time it happened and queued for each of the app's
webhooks that takes its kind. Nothing is encoded and nothing waits, so webhooks cost the
broadcast path next to nothing.

The three-second rule (Pusher's): ``channel_vacated`` and ``member_removed`` are held for
``delay`` seconds. When the channel is occupied again (the same user rejoins) within that
window, the held event is dropped *and* the new ``channel_occupied`` (``member_added``) is not
sent: for the receiver nothing happened, so a page refresh sends nothing. Held events are
released in the order they were held, each with the time it happened.

Delivery: one asyncio task per (app, URL) takes what is queued, everything up to
``batch_limit`` events when the app batches, else one, encodes the body
``{"time_ms": ..., "events": [...]}`` once, signs it (``X-Pusher-Signature`` = hex
HMAC-SHA256 of the raw body with the app secret) and POSTs it. ``time_ms`` is when the
request's oldest event happened. A failure (no response, a timeout, any status but 2xx) is
retried with exponential backoff and jitter until ``retry_for`` seconds after that time (the
official SDKs' ``validate_webhook`` refuses older bodies anyway), then dropped and logged.
Requests to one URL go out one at a time and in order; a slow or dead URL holds back only its
own queue.

Memory stays bounded: a queue holds at most ``queue_limit`` events. When a dead endpoint lets
it fill, each new event pushes out the oldest, which is counted and logged once per overflow;
events queued for longer than ``retry_for`` are dropped as expired before they are sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from leadcast.protocol.apps import App, Webhook
from leadcast.realtime.ports import WebhookPoster

__all__ = [
    "WebhookEvent",
    "WebhookOptions",
    "WebhookPostError",
    "WebhookStats",
    "Webhooks",
    "webhook_body",
    "webhook_headers",
]

log = logging.getLogger("leadcast.realtime.webhooks")


class WebhookPostError(Exception):
    """A webhook request got no HTTP response (refused, reset, timed out)."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One entry of a webhook request's ``events``, with the time it happened."""

    name: str
    channel: str
    time_ms: int
    user_id: str | None = None
    event: str | None = None
    data: str | None = None
    socket_id: str | None = None

    def to_json(self) -> dict[str, str]:
        """The event as Pusher sends it: ``user_id`` only where it applies."""
        body = {"name": self.name, "channel": self.channel}
        for name in ("event", "data", "socket_id", "user_id"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """How webhooks are held, queued and retried. Times in seconds."""

    #: Hold ``channel_vacated`` and ``member_removed`` this long (0: send them at once).
    delay: float = 3.0
    #: Whole-request limit, connecting included (Pusher asks receivers to answer within 4 s).
    timeout: float = 4.0
    #: Retry a failed request until this long after its oldest event happened.
    retry_for: float = 300.0
    backoff_first: float = 1.0
    backoff_max: float = 60.0
    #: Events queued per (app, URL) before the oldest are dropped.
    queue_limit: int = 10_000
    #: Events per request when the app batches.
    batch_limit: int = 100


@dataclass(slots=True)
class WebhookStats:
    """Counters of one (app, URL), in events unless named otherwise."""

    delivered: int = 0
    requests: int = 0
    retries: int = 0
    failed: int = 0
    dropped: int = 0
    expired: int = 0


def webhook_body(events: Sequence[WebhookEvent]) -> bytes:
    """The request body: ``time_ms`` of the oldest event, then the events."""
    time_ms = min(event.time_ms for event in events)
    payload = {"time_ms": time_ms, "events": [event.to_json() for event in events]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_headers(app: App, body: bytes) -> dict[str, str]:
    """``X-Pusher-Key`` and ``X-Pusher-Signature`` (hex HMAC-SHA256 of the raw body)."""
    signature = hmac.new(app.secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Pusher-Key": app.key,
        "X-Pusher-Signature": signature,
    }


def _redacted(url: str) -> str:
    """The URL for logs: no credentials, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _Target:
    """One (app, URL): its queue, counters and delivery state."""

    __slots__ = ("app", "busy", "events", "label", "overflowing", "stats", "url", "wake", "webhook")

    def __init__(self, app: App, webhook: Webhook) -> None:
        self.app = app
        self.webhook = webhook
        self.url = webhook.url
        self.label = f"app {app.id} → {_redacted(webhook.url)}"
        self.events: deque[WebhookEvent] = deque()
        self.stats = WebhookStats()
        self.overflowing = False
        self.busy = False
        self.wake = asyncio.Event()


class Webhooks:
    """The node's webhook sink and the background delivery behind it.

    Args:
        apps: every app; those without webhooks cost nothing.
        poster: sends the requests (:class:`~leadcast.realtime.webhook_http.HttpxPoster`).
        options: delays, limits and retry policy.
        wall: wall clock in seconds (``time_ms``, expiry).
        monotonic: clock for the hold delay.
        sleep: waits between retries.
        jitter: a random number in [0, 1) per retry.
    """

    def __init__(
        self,
        apps: Iterable[App],
        poster: WebhookPoster,
        options: WebhookOptions | None = None,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.options = options or WebhookOptions()
        self._poster = poster
        self._wall = wall
        self._monotonic = monotonic
        self._sleep = sleep
        self._jitter = jitter
        self.targets: list[_Target] = []
        #: (app id, kind) → the targets that take that kind.
        self._routes: dict[tuple[str, str], tuple[_Target, ...]] = {}
        for app in apps:
            for webhook in app.webhooks:
                target = _Target(app, webhook)
                self.targets.append(target)
                for kind in webhook.event_types:
                    key = (app.id, kind)
                    self._routes[key] = (*self._routes.get(key, ()), target)
        #: Held events, in due order: (app id, channel[, user id]) → (app, event, due).
        self._held: dict[tuple[str, ...], tuple[App, WebhookEvent, float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- the WebhookSink port: called by the node, never blocks ---------------------------------

    def channel_occupied(self, app: App, channel: str) -> None:
        if self._held.pop((app.id, channel), None) is None:
            self._route(app, WebhookEvent("channel_occupied", channel, self._ms()))

    def channel_vacated(self, app: App, channel: str) -> None:
        self._hold((app.id, channel), app, WebhookEvent("channel_vacated", channel, self._ms()))

    def member_added(self, app: App, channel: str, user_id: str) -> None:
        if self._held.pop((app.id, channel, user_id), None) is None:
            self._route(app, WebhookEvent("member_added", channel, self._ms(), user_id))

    def member_removed(self, app: App, channel: str, user_id: str) -> None:
        event = WebhookEvent("member_removed", channel, self._ms(), user_id)
        self._hold((app.id, channel, user_id), app, event)

    def client_event(
        self, app: App, channel: str, event: str, data: str, socket_id: str, user_id: str | None
    ) -> None:
        self._route(
            app, WebhookEvent("client_event", channel, self._ms(), user_id, event, data, socket_id)
        )

    def cache_miss(self, app: App, channel: str) -> None:
        self._route(app, WebhookEvent("cache_miss", channel, self._ms()))

    # -- holding and queueing ---------------------------------------------------------------------

    def _ms(self) -> int:
        return int(self._wall() * 1000)

    def _hold(self, key: tuple[str, ...], app: App, event: WebhookEvent) -> None:
        delay = self.options.delay
        if delay <= 0:
            self._route(app, event)
            return
        due = self._monotonic() + delay
        first = not self._held
        self._held.pop(key, None)  # keeps the dict in due order
        self._held[key] = (app, event, due)
        if first:
            self._schedule(due)

    def release(self, *, everything: bool = False) -> float | None:
        """Queue the held events that are due (or all of them); return the next due time."""
        now = self._monotonic()
        held = self._held
        while held:
            key = next(iter(held))
            app, event, due = held[key]
            if due > now and not everything:
                return due
            del held[key]
            self._route(app, event)
        return None

    def _route(self, app: App, event: WebhookEvent) -> None:
        for target in self._routes.get((app.id, event.name), ()):
            events = target.events
            if len(events) >= self.options.queue_limit:
                events.popleft()
                target.stats.dropped += 1
                if not target.overflowing:
                    target.overflowing = True
                    log.warning("webhooks %s: queue full, dropping the oldest", target.label)
            events.append(event)
            if not target.wake.is_set():
                target.wake.set()

    def _schedule(self, due: float) -> None:
        if self._loop is not None and self._timer is None:
            delay = max(0.0, due - self._monotonic())
            self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        due = self.release()
        if due is not None:
            self._schedule(due)

    def stats(self) -> dict[str, WebhookStats]:
        """Counters per (app, URL), keyed ``"app {id} → {url without query}"``."""
        return {target.label: target.stats for target in self.targets}

    def pending(self) -> int:
        """Events held or queued, not yet handed to a request."""
        return len(self._held) + sum(len(target.events) for target in self.targets)

    # -- delivery -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start one delivery task per (app, URL) on the running loop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        for target in self.targets:
            self._tasks.append(loop.create_task(self._run(target), name=target.label))
            log.info(
                "webhooks %s: %s, %s",
                target.label,
                ", ".join(sorted(target.webhook.event_types)),
                "batched" if target.app.webhook_batching else "one event per request",
            )
        if self._held:
            self._schedule(next(iter(self._held.values()))[2])

    async def close(self, grace: float = 5.0) -> None:
        """Send what is held and queued, for at most ``grace`` seconds, then stop.

        Held events are released at once: the server is stopping, so the channels and
        members they report are gone for good.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.release(everything=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(t.events or t.busy for t in self.targets) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        left = sum(len(target.events) for target in self.targets)
        if left:
            log.warning("webhooks: stopping with %d events not delivered", left)
        await self._poster.aclose()

    async def _run(self, target: _Target) -> None:
        limit = self.options.batch_limit if target.app.webhook_batching else 1
        while True:
            if not target.events:
                target.wake.clear()
                await target.wake.wait()
                continue
            batch = self._take(target, limit)
            if batch:
                target.busy = True
                try:
                    await self._deliver(target, batch)
                finally:
                    target.busy = False

    def _take(self, target: _Target, limit: int) -> list[WebhookEvent]:
        events = target.events
        cutoff = self._ms() - int(self.options.retry_for * 1000)
        expired = 0
        while events and events[0].time_ms < cutoff:
            events.popleft()
            expired += 1
        if expired:
            target.stats.expired += expired
            log.warning("webhooks %s: %d events expired unsent", target.label, expired)
        batch = [events.popleft() for _ in range(min(limit, len(events)))]
        if target.overflowing:
            target.overflowing = False
            log.warning("webhooks %s: %d dropped in all", target.label, target.stats.dropped)
        return batch

    async def _deliver(self, target: _Target, batch: list[WebhookEvent]) -> None:
        options = self.options
        body = webhook_body(batch)
        headers = webhook_headers(target.app, body)
        deadline_ms = min(event.time_ms for event in batch) + options.retry_for * 1000
        attempt = 0
        while True:
            attempt += 1
            problem: str | None
            try:
                async with asyncio.timeout(options.timeout):
                    status = await self._poster.post(target.url, body, headers)
                problem = None if 200 <= status < 300 else f"HTTP {status}"
            except TimeoutError:
                problem = f"no response within {options.timeout:g} s"
            except WebhookPostError as error:
                problem = str(error)
            except Exception:
                log.exception("webhooks %s: could not send; dropping the request", target.label)
                target.stats.failed += len(batch)
                return
            if problem is None:
                target.stats.delivered += len(batch)
                target.stats.requests += 1
                if attempt > 1:
                    log.info("webhooks %s: delivered on attempt %d", target.label, attempt)
                return
            wait = min(options.backoff_max, options.backoff_first * 2 ** (attempt - 1))
            wait *= 0.5 + 0.5 * self._jitter()
            if self._wall() * 1000 + wait * 1000 > deadline_ms:
                target.stats.failed += len(batch)
                log.error(
                    "webhooks %s: giving up on %d events after %d attempts (last: %s)",
                    target.label,
                    len(batch),
                    attempt,
                    problem,
                )
                return
            target.stats.retries += 1
            log.warning(
                "webhooks %s: attempt %d failed (%s); retrying in %.1f s",
                target.label,
                attempt,
                problem,
                wait,
            )
            await self._sleep(wait)
