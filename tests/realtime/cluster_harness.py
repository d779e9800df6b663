"""Drive the cluster ports' backends alike from synchronous tests.

A :class:`Harness` makes nodes (a :class:`ClusterState` and a :class:`Broker` each, with a
recording handler) over one backend: ``memory`` (a shared :class:`MemoryCluster` and
:class:`MemoryBus`; every answer comes before the call returns, no event loop) or ``redis``
(a real server, a private key prefix, an event loop run until each answer arrives).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from leadcast.protocol.apps import App, AppRegistry
from leadcast.realtime.memory_backend import (
    MemoryBroker,
    MemoryBus,
    MemoryCluster,
    MemoryClusterState,
    new_node_id,
)
from leadcast.realtime.ports import Broker, ClusterState, Delivery, Holding, Transition
from leadcast.realtime.redis_backend import RedisBroker, RedisLink, RedisOptions
from leadcast.realtime.redis_state import RedisClusterState
from tests.realtime.fakes import run_sync

__all__ = ["Harness", "Recorder", "TestNode"]

T = TypeVar("T")


class Recorder:
    """The node's side of both ports: records what it is told; ``held`` is what it holds."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.transitions: list[Transition] = []
        self.held = Holding({}, {}, {})

    def on_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def on_transitions(self, transitions: Any) -> None:
        self.transitions.extend(transitions)

    def holding(self) -> Holding:
        return self.held


class TestNode:
    __test__ = False

    def __init__(self, state: ClusterState, broker: Broker, recorder: Recorder) -> None:
        self.state = state
        self.broker = broker
        self.recorder = recorder

    @property
    def node_id(self) -> str:
        return self.state.node_id


class Harness:
    """Nodes over one backend; see the module docstring."""

    def __init__(
        self, kind: str, apps: list[App], *, url: str = "", prefix: str = "", hold: float = 3.0
    ) -> None:
        self.kind = kind
        self.apps = AppRegistry(apps)
        self.url = url
        self.prefix = prefix
        self.hold = hold
        self.nodes: list[TestNode] = []
        self.clock = 0.0
        self.memory = MemoryCluster(hold=hold, clock=lambda: self.clock)
        self.bus = MemoryBus()
        self.loop = asyncio.new_event_loop() if kind == "redis" else None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def node(self, *, prefix: str | None = None, **broker_options: float) -> TestNode:
        recorder = Recorder()
        if self.loop is None:
            node_id = new_node_id()
            state: ClusterState = MemoryClusterState(self.memory, node_id)
            broker: Broker = MemoryBroker(node_id, self.bus)
        else:
            options = RedisOptions(self.url, prefix or self.prefix, node_ttl=5, hold=self.hold)
            link = RedisLink(options)
            self.run(link.open())
            redis_broker = RedisBroker(link, self.apps, **broker_options)
            self.run(redis_broker.start())
            state, broker = RedisClusterState(link), redis_broker
            self._closers += [link.close, redis_broker.close]
        state.attach(recorder)
        broker.attach(recorder)
        made = TestNode(state, broker, recorder)
        self.nodes.append(made)
        return made

    # -- running -------------------------------------------------------------------------------

    def run(self, awaitable: Awaitable[T]) -> T:
        if self.loop is None:
            return run_sync(awaitable)
        assert isinstance(awaitable, Coroutine)
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, 10))

    def call(self, method: Callable[..., None], *args: Any) -> Any:
        """Call a state-changing method and return what it passes to ``done``."""
        box: list[Any] = []
        method(*args, box.append)
        if self.loop is not None:
            self.wait_for(lambda: bool(box))
        assert len(box) == 1, box
        return box[0]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the loop (if any) until ``condition`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.loop is not None, "the memory backend answers at once"
            assert time.monotonic() < deadline, "timed out"
            self.loop.run_until_complete(asyncio.sleep(0.005))

    def settle(self, seconds: float = 0.2) -> None:
        """Let deliveries in flight arrive (only to check that nothing more does)."""
        if self.loop is not None:
            self.loop.run_until_complete(asyncio.sleep(seconds))

    def kill(self, node: TestNode, reporter: TestNode) -> None:
        """``node`` crashes; ``reporter`` finds it gone."""
        self.nodes.remove(node)
        if self.loop is None:
            self.memory.drop(node.node_id)
            return
        assert isinstance(node.state, RedisClusterState)
        assert isinstance(reporter.state, RedisClusterState)
        link = node.state.link
        self.run(link.ask_command("ZADD", f"{link.options.prefix}:nodes", 0, node.node_id))
        self.run(reporter.state.beat())

    def close(self) -> None:
        if self.loop is None:
            return
        for closer in reversed(self._closers):
            self.loop.run_until_complete(closer())
        self.loop.close()
