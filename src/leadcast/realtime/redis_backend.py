"""The Redis backend of the cluster ports: several ``leadcast realtime`` nodes, one Redis.

Theory of operation
-------------------
:class:`RedisLink` owns the connection and runs every command of this node in the order the
node asked for it: calls only append to a queue, and one task sends what has queued up as a
single pipeline, then hands each answer to its callback. So a subscription and the
unsubscription right after it reach Redis in that order, a burst of subscriptions costs one
round trip, and the event loop never waits for Redis.

- :class:`RedisBroker` publishes each delivery once, to the app's channel
  ``{prefix}:a:{app}:bus``: a small JSON header, a newline, then the protocol text the
  publishing node encoded. A listening task subscribes to every app's channel and hands what
  other nodes published to the node; the receiver parses the header once and writes the text
  as it is. The listener pings when the connection is quiet and reconnects, with backoff and
  a log line, as soon as the connection fails or stops answering, so it cannot stop silently.
  Deliveries published while it is disconnected are lost (Redis pub/sub keeps nothing).
- :class:`RedisClusterState` keeps the shared counts in Redis through the atomic scripts of
  :mod:`leadcast.realtime.redis_scripts`, under this node's id. A heartbeat task pushes the
  node's deadline ``node_ttl`` ahead every third of it, and drops every node past its
  deadline, reporting what that changes (``member_removed``, ``channel_vacated``…) to the node.

When Redis cannot be reached, calls fail at once (``done(None)``) and the node carries on
with what it knows itself; the heartbeat keeps trying and, once Redis answers again, replaces
this node's entries with what it holds now, reporting the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from leadcast.protocol.apps import AppRegistry
from leadcast.protocol.errors import ConfigError
from leadcast.realtime import redis_scripts
from leadcast.realtime.memory_backend import new_node_id
from leadcast.realtime.ports import BrokerHandler, ClusterUnavailable, Delivery, DeliveryKind

__all__ = ["RedisBroker", "RedisLink", "RedisOptions", "redacted"]

log = logging.getLogger("leadcast.realtime.redis")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """How a node uses Redis.

    Attributes:
        url: ``redis://[:password@]host[:port][/db]`` (or ``rediss://``, ``unix://``).
        prefix: starts every key and pub/sub channel: deployments sharing a Redis server
            keep apart by using different prefixes (the db number does not separate pub/sub).
        node_ttl: seconds after its last heartbeat a node counts as gone.
        hold: the webhook delay, seconds (markers for vacated channels and removed members).
    """

    url: str
    prefix: str = "leadcast"
    node_ttl: float = 10.0
    hold: float = 3.0

    def check(self) -> RedisOptions:
        """Return ``self`` when valid.

        Raises:
            ConfigError: naming the problem.
        """
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"--redis-url must start with redis://, rediss:// or unix://: {self.url!r}"
            )
        if not self.prefix or any(c in self.prefix for c in " \n\r\t"):
            raise ConfigError(f"--redis-prefix must be a non-empty word, not {self.prefix!r}")
        if not 1 <= self.node_ttl <= 3600:
            raise ConfigError(f"--redis-node-ttl must be 1-3600 seconds, not {self.node_ttl}")
        return self


class _Op:
    __slots__ = ("args", "command", "done", "probe")

    def __init__(
        self, command: Any, args: Sequence[Any], done: Callable[[Any], None], probe: bool
    ) -> None:
        self.command = command
        self.args = args
        self.done = done
        self.probe = probe


class RedisLink:
    """One node's connection to Redis: ordered, pipelined commands (see the module doc)."""

    def __init__(self, options: RedisOptions, node_id: str | None = None) -> None:
        self.options = options.check()
        self.node_id = node_id or new_node_id()
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            options.url,
            client_name=f"leadcast:{options.prefix}",
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry_on_timeout=False,
            retry=None,
        )
        self.scripts = {
            name: self.client.register_script(getattr(redis_scripts, name))
            for name in redis_scripts.__all__
        }
        self.available = True
        #: Set when a command may have been lost: the node's entries are rebuilt.
        self.dirty = False
        self._ops: list[_Op] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Check that Redis answers and claim a node id no live node has.

        Raises:
            ConfigError: Redis cannot be reached, or refuses the scripts.
        """
        try:
            await self.client.ping()
            for _ in range(20):
                if await self.script_now("HEARTBEAT", self._ttl_ms(), "1"):
                    break
                self.node_id = new_node_id()
            else:  # pragma: no cover - 20 collisions among 900 million ids
                raise ConfigError("could not claim a node id in Redis")
        except (RedisError, OSError) as error:
            await self.client.aclose()
            raise ConfigError(
                f"cannot use Redis at {redacted(self.options.url)}: {error}"
            ) from None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis commands")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()

    def _ttl_ms(self) -> int:
        return int(self.options.node_ttl * 1000)

    def _args(self, *args: Any, hold: bool = True) -> list[Any]:
        held = int(self.options.hold * 1000) if hold else 0
        return [self.options.prefix, self.node_id, held, *args]

    async def script_now(self, name: str, *args: Any) -> Any:
        """Run one script at once, outside the queue (start-up only)."""
        return await self.scripts[name](keys=[], args=self._args(*args))

    def script(
        self,
        name: str,
        args: Sequence[Any],
        done: Callable[[Any], None],
        *,
        probe: bool = False,
        hold: bool = True,
    ) -> None:
        """Queue a script; ``done`` gets its answer, or ``None`` when Redis is unreachable.

        Args:
            probe: run even while Redis counts as unreachable (the heartbeat).
            hold: set and honour webhook hold markers (apps with webhooks).
        """
        self._queue(_Op(self.scripts[name], self._args(*args, hold=hold), done, probe))

    def command(self, args: Sequence[Any], done: Callable[[Any], None] | None = None) -> None:
        """Queue a plain command (``SET``, ``PUBLISH``…)."""
        self._queue(_Op(None, args, done or _ignore, False))

    async def ask(self, name: str, *args: Any, probe: bool = False) -> Any:
        """Run a script in queue order and wait for its answer.

        Raises:
            ClusterUnavailable: Redis cannot be reached.
        """
        future = self._future()
        self.script(name, args, self._settle(future), probe=probe)
        return await future

    async def ask_command(self, *args: Any) -> Any:
        """Run a plain command in queue order and wait for its answer.

        Raises:
            ClusterUnavailable: Redis cannot be reached.
        """
        future = self._future()
        self.command(args, self._settle(future))
        return await future

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    @staticmethod
    def _settle(future: asyncio.Future[Any]) -> Callable[[Any], None]:

        def done(answer: Any) -> None:
            if not future.done():
                if answer is None:
                    future.set_exception(ClusterUnavailable("Redis cannot be reached"))
                else:
                    future.set_result(answer)

        return done

    def _queue(self, op: _Op) -> None:
        if not self.available and not op.probe:
            self.dirty = True
            _call(op.done, None)
            return
        self._ops.append(op)
        if not self._wake.is_set():
            self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._ops:
                self._wake.clear()
                await self._wake.wait()
                continue
            ops, self._ops = self._ops, []
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for op in ops:
                        if op.command is None:
                            pipe.execute_command(*op.args)
                        else:
                            await op.command(keys=[], args=op.args, client=pipe)
                    answers = await pipe.execute(raise_on_error=False)
            except _UNREACHABLE as error:
                if self.available:
                    log.warning("Redis unreachable (%s): serving this node's clients alone", error)
                self.available = False
                self.dirty = True
                for op in ops:
                    _call(op.done, None)
                continue
            except RedisError:
                log.exception("Redis refused a pipeline of %d commands", len(ops))
                self.dirty = True
                for op in ops:
                    _call(op.done, None)
                continue
            for op, answer in zip(ops, answers, strict=True):
                if isinstance(answer, Exception):
                    log.error("Redis refused a command: %s", answer)
                    self.dirty = True
                    answer = None
                _call(op.done, answer)


def _ignore(answer: Any) -> None:
    pass


def _call(done: Callable[[Any], None], answer: Any) -> None:
    try:
        done(answer)
    except Exception:
        log.exception("a Redis answer could not be handled")


def redacted(url: str) -> str:
    """``url`` without its password."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


# -- the broker ---------------------------------------------------------------------------------


class RedisBroker:
    """The :class:`~leadcast.realtime.ports.Broker` over Redis pub/sub (see the module doc)."""

    def __init__(
        self, link: RedisLink, apps: AppRegistry, *, quiet: float = 5.0, dead: float = 15.0
    ) -> None:
        """Listen for ``apps``.

        Args:
            quiet: seconds of silence before the listener pings Redis.
            dead: seconds of silence (no message, no answer to the ping) before it gives the
                connection up and reconnects.
        """
        self.link = link
        self.quiet = quiet
        self.dead = dead
        prefix = link.options.prefix
        self._channels = {f"{prefix}:a:{app.id}:bus": app.id for app in apps}
        self._handler: BrokerHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    def channel(self, app_id: str) -> str:
        return f"{self.link.options.prefix}:a:{app_id}:bus"

    def attach(self, handler: BrokerHandler) -> None:
        self._handler = handler

    def publish(self, delivery: Delivery) -> None:
        header = json.dumps(
            [
                self.link.node_id,
                delivery.kind.value,
                delivery.target,
                delivery.exclude,
                delivery.user_id,
                delivery.node,
                delivery.version,
            ],
            separators=(",", ":"),
        )
        self.link.command(("PUBLISH", self.channel(delivery.app_id), f"{header}\n{delivery.text}"))

    async def start(self) -> None:
        """Subscribe, then keep listening in a task.

        Raises:
            ConfigError: the first subscription failed.
        """
        pubsub = self.link.client.pubsub()
        try:
            await pubsub.subscribe(*self._channels)
        except (RedisError, OSError) as error:
            await pubsub.aclose()
            raise ConfigError(f"cannot subscribe in Redis: {error}") from None
        self._task = asyncio.get_running_loop().create_task(self._listen(pubsub), name="redis bus")

    async def close(self) -> None:
        """Stop listening (before the link closes)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2)

    async def _listen(self, pubsub: Any) -> None:
        backoff = 0.1
        while True:
            try:
                if pubsub is None:
                    pubsub = self.link.client.pubsub()
                    await pubsub.subscribe(*self._channels)
                    self.reconnects += 1
                    log.warning("Redis subscriber reconnected (%d channels)", len(self._channels))
                await self._receive(pubsub)
            except (*_UNREACHABLE, RedisError) as error:
                log.warning("Redis subscriber lost its connection (%s); reconnecting", error)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                    pubsub = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _receive(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged = False
        while True:
            wait = min(1.0, self.quiet / 2)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            now = loop.time()
            if message is not None:
                heard, pinged = now, False
                if message.get("type") == "message":
                    self._deliver(message["channel"], message["data"])
                continue
            if now - heard > self.dead:
                raise RedisConnectionError(f"no answer from Redis for {self.dead:g} s")
            if now - heard > self.quiet and not pinged:
                await pubsub.ping()
                pinged = True

    def _deliver(self, channel: str, data: str) -> None:
        app_id = self._channels.get(channel)
        header, _, text = data.partition("\n")
        try:
            origin, kind, target, exclude, user_id, node, version = json.loads(header)
            delivery = Delivery(
                DeliveryKind(kind), app_id or "", target, text, exclude, user_id, node, version
            )
        except (ValueError, TypeError) as error:
            log.warning("ignoring a malformed delivery on %s: %s", channel, error)
            return
        if origin == self.link.node_id or app_id is None or self._handler is None:
            return
        try:
            self._handler.on_delivery(delivery)
        except Exception:
            log.exception("a delivery from node %s failed", origin)
