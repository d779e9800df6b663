"""The :class:`~leadcast.realtime.ports.ClusterState` of a node, kept in Redis.

See :mod:`leadcast.realtime.redis_backend` (the connection, the heartbeat's role) and
:mod:`leadcast.realtime.redis_scripts` (the key layout and the scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.channels import ChannelType, channel_type, is_cache_channel
from leadcast.protocol.session import Member
from leadcast.realtime.ports import (
    ChannelSummary,
    ClusterHandler,
    ClusterUnavailable,
    Joined,
    SignedIn,
    Transition,
)
from leadcast.realtime.redis_backend import RedisBroker, RedisLink, RedisOptions, redacted

__all__ = ["RedisCluster", "RedisClusterState", "net_transitions", "transitions_from"]

log = logging.getLogger("leadcast.realtime.redis")

_OPPOSITE = {
    "occupied": "vacated",
    "vacated": "occupied",
    "added": "removed",
    "removed": "added",
    "online": "offline",
    "offline": "online",
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def transitions_from(flat: Sequence[str]) -> tuple[Transition, ...]:
    """Transitions from a script's flat answer (seven strings each)."""
    found = []
    for index in range(0, len(flat), 7):
        kind, app_id, channel, user_id, holder, info, version = flat[index : index + 7]
        found.append(
            Transition(
                kind,
                app_id,
                channel,
                user_id or None,
                holder or None,
                json.loads(info) if info else None,
                int(version) if version else 0,
            )
        )
    return tuple(found)


def net_transitions(transitions: Sequence[Transition]) -> list[Transition]:
    """What is left when a transition and its opposite on the same thing cancel out (a node's
    entries taken out and put back)."""
    left: dict[tuple[str, str, str | None], Transition] = {}
    for transition in transitions:
        key = (transition.app_id, transition.channel, transition.user_id)
        before = left.get(key)
        if before is not None and _OPPOSITE.get(before.kind) == transition.kind:
            del left[key]
        else:
            left[key] = transition
    return list(left.values())


class RedisClusterState:
    """Shared counts in Redis under this node's id; a heartbeat keeps them alive."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._handler: ClusterHandler | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def node_id(self) -> str:
        return self.link.node_id

    def attach(self, handler: ClusterHandler) -> None:
        self._handler = handler

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="redis heartbeat")

    async def close(self) -> None:
        """Stop the heartbeat and take this node's entries out (its clients are gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ClusterUnavailable):
            await self.link.ask("RESYNC", 0)  # nothing held: every entry goes
            await self.link.ask("FORGET")

    # -- heartbeat -----------------------------------------------------------------------------

    async def _beat(self) -> None:
        interval = self.link.options.node_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except ClusterUnavailable:
                pass
            except Exception:
                log.exception("the Redis heartbeat failed")

    async def beat(self) -> None:
        """Push this node's deadline ahead (rebuilding its entries if they were lost), then
        drop the nodes past theirs.

        Raises:
            ClusterUnavailable: Redis cannot be reached.
        """
        link = self.link
        known = await link.ask("HEARTBEAT", int(link.options.node_ttl * 1000), "0", probe=True)
        if not link.available:
            log.warning("Redis reachable again")
            link.available = True
        if not known or link.dirty:
            self.rebuild()
            if not known:
                log.warning("this node's entries were gone from Redis: rebuilt them")
        answer = await link.ask("REAP")
        transitions, dead = transitions_from(answer[0]), [n for n in answer[1] if n != self.node_id]
        if dead:
            log.warning("nodes %s stopped beating: their entries are removed", ", ".join(dead))
        if transitions and self._handler is not None:
            self._handler.on_transitions(transitions)

    def rebuild(self) -> None:
        """Replace this node's entries with what it holds now, in queue order; report the
        difference."""
        if self._handler is None:
            return
        held = self._handler.holding()
        args: list[Any] = [int(self.link.options.node_ttl * 1000)]
        for (app_id, channel), count in held.channels.items():
            args += ["c", app_id, channel, count]
        for (app_id, channel, user_id), (info, count) in held.members.items():
            args += ["m", app_id, channel, user_id, _json(info), count]
        for (app_id, user_id), count in held.users.items():
            args += ["u", app_id, user_id, count]
        self.link.dirty = False

        def rebuilt(answer: Any) -> None:
            if answer is None:
                return
            transitions = net_transitions(transitions_from(answer))
            if transitions and self._handler is not None:
                self._handler.on_transitions(transitions)

        self.link.script("RESYNC", args, rebuilt)

    # -- changes -------------------------------------------------------------------------------

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        presence = channel_type(channel) is ChannelType.PRESENCE

        def joined(answer: Any) -> None:
            if answer is None:
                done(None)
            elif answer[0] == "full":
                done(Joined(full=True))
            else:
                flat = answer[3]
                members = (
                    {flat[i]: json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
                    if presence
                    else None
                )
                done(
                    Joined(
                        False,
                        transitions_from(answer[2]),
                        members,
                        answer[1] or None,
                        int(answer[4]) if presence else 0,
                    )
                )

        args = [
            app.id,
            channel,
            member.user_id if member is not None else "",
            _json(member.user_info) if member is not None else "",
            app.max_presence_members,
            "1" if is_cache_channel(channel) else "0",
        ]
        self.link.script("JOIN", args, joined, hold=bool(app.webhooks))

    def leave(
        self,
        app: App,
        channel: str,
        member: Member | None,
        done: Callable[[tuple[Transition, ...] | None], None],
    ) -> None:
        args = [app.id, channel, member.user_id if member is not None else ""]
        self.link.script("LEAVE", args, _flat(done), hold=bool(app.webhooks))

    def sign_in(
        self,
        app: App,
        user_id: str,
        watchlist: tuple[str, ...],
        done: Callable[[SignedIn | None], None],
    ) -> None:
        def signed_in(answer: Any) -> None:
            if answer is None:
                done(None)
            else:
                done(SignedIn(transitions_from(answer[0]), tuple(answer[1])))

        self.link.script("SIGN_IN", [app.id, user_id, *watchlist], signed_in)

    def sign_out(
        self, app: App, user_id: str, done: Callable[[tuple[Transition, ...] | None], None]
    ) -> None:
        self.link.script("SIGN_OUT", [app.id, user_id], _flat(done))

    def members(
        self, app: App, channel: str, done: Callable[[dict[str, Any] | None], None]
    ) -> None:
        key = f"{self.link.options.prefix}:a:{app.id}:i:{channel}"

        def answered(answer: Any) -> None:
            if answer is None:
                done(None)
            else:
                done({user_id: json.loads(info) for user_id, info in answer.items()})

        self.link.command(("HGETALL", key), answered)

    def cache(self, app: App, channel: str, text: str, data: str, now: float) -> None:
        key = f"{self.link.options.prefix}:a:{app.id}:cache:{channel}"
        self.link.command(("SET", key, text, "PX", int(app.cache_ttl * 1000)))

    # -- queries -------------------------------------------------------------------------------

    async def channel(self, app: App, channel: str, now: float) -> ChannelSummary:
        presence = channel.startswith("presence-")
        count, users, cached, ttl = await self.link.ask(
            "CHANNEL", app.id, channel, "1" if presence else "0"
        )
        cache = None
        if cached:
            cache = (cached, json.loads(cached)["data"], max(0, int(ttl)) / 1000)
        return ChannelSummary(int(count) > 0, int(count), int(users) if presence else None, cache)

    async def channels(self, app: App, prefix: str, now: float) -> dict[str, ChannelSummary]:
        flat = await self.link.ask("CHANNELS", app.id, prefix)
        found = {}
        for index in range(0, len(flat), 3):
            name, count, users = flat[index], int(flat[index + 1]), int(flat[index + 2])
            found[name] = ChannelSummary(count > 0, count, users if users >= 0 else None)
        return found

    async def users(self, app: App, channel: str) -> list[str]:
        return list(await self.link.ask("USERS", app.id, channel))


def _flat(
    done: Callable[[tuple[Transition, ...] | None], None],
) -> Callable[[Any], None]:
    def answered(answer: Any) -> None:
        done(None if answer is None else transitions_from(answer))

    return answered


class RedisCluster:
    """A node's whole Redis side: the link, the broker and the cluster state."""

    def __init__(self, link: RedisLink, broker: RedisBroker, state: RedisClusterState) -> None:
        self.link = link
        self.broker = broker
        self.state = state

    @property
    def where(self) -> str:
        """The Redis URL without its password."""
        return redacted(self.link.options.url)

    @classmethod
    async def open(cls, options: RedisOptions, apps: AppRegistry) -> RedisCluster:
        """Connect, claim a node id and subscribe to the apps' channels.

        Raises:
            ConfigError: Redis cannot be reached or used, naming the URL and the problem.
        """
        link = RedisLink(options)
        await link.open()
        broker = RedisBroker(link, apps)
        try:
            await broker.start()
        except BaseException:
            await link.close()
            raise
        return cls(link, broker, RedisClusterState(link))

    async def close(self) -> None:
        """Stop listening, then close the connection (after :meth:`RedisClusterState.close`)."""
        await self.broker.close()
        await self.link.close()
