"""Ports of the real-time node: the transport, webhooks, and the cluster it may be part of.

The cluster ports have a memory backend (:mod:`leadcast.realtime.memory_backend`, a single node
by default) and a Redis one (:mod:`leadcast.realtime.redis_backend`) for several nodes.
Times are the node's monotonic clock, in seconds.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from leadcast.protocol.apps import App
from leadcast.protocol.session import Member, Session

__all__ = [
    "Broker",
    "BrokerHandler",
    "ChannelSummary",
    "ClusterHandler",
    "ClusterState",
    "ClusterUnavailable",
    "Delivery",
    "DeliveryKind",
    "Holding",
    "Joined",
    "Peer",
    "SignedIn",
    "Transition",
    "WebhookPoster",
    "WebhookSink",
    "Writer",
]


class Peer(Protocol):
    """One client connection, as the node sees it."""

    session: Session


class Writer(Protocol):
    """Delivers encoded WebSocket frames. Frames to one peer arrive in call order."""

    def send(self, peer: Peer, frame: bytes) -> None:
        """Queue ``frame`` for ``peer``."""

    def broadcast(self, frame: bytes, peers: Collection[Peer], exclude: Peer | None) -> None:
        """Queue the same ``frame`` for every peer but ``exclude``; ``peers`` is not kept."""

    def close(self, peer: Peer, code: int, reason: str) -> None:
        """Close ``peer`` with a WebSocket close code, after the frames already queued."""


class WebhookSink(Protocol):
    """Hears what the app's webhooks report. Every call only queues: cheap, never blocking.

    The node calls it for apps that have webhooks, at most once per state change:
    ``member_added`` on a user's first connection to a presence channel, ``member_removed``
    when their last one leaves.
    """

    def channel_occupied(self, app: App, channel: str) -> None:
        """``channel`` got its first subscriber."""

    def channel_vacated(self, app: App, channel: str) -> None:
        """``channel`` lost its last subscriber."""

    def member_added(self, app: App, channel: str, user_id: str) -> None:
        """``user_id`` joined the presence ``channel``."""

    def member_removed(self, app: App, channel: str, user_id: str) -> None:
        """``user_id`` left the presence ``channel``."""

    def client_event(
        self, app: App, channel: str, event: str, data: str, socket_id: str, user_id: str | None
    ) -> None:
        """A client sent ``event`` on ``channel``; ``user_id`` on presence channels only."""

    def cache_miss(self, app: App, channel: str) -> None:
        """A client subscribed to the cache ``channel`` while it had no event cached."""


class WebhookPoster(Protocol):
    """Sends one webhook request."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url``; return the HTTP status.

        Raises:
            WebhookPostError: no response (connection refused, reset, timed out).
        """

    async def aclose(self) -> None:
        """Release connections."""


# -- the cluster: other nodes and the state they share ------------------------------------------


class ClusterUnavailable(Exception):
    """The shared cluster state cannot be reached (the HTTP API answers 503)."""


class DeliveryKind(enum.Enum):
    """What a :class:`Delivery` asks the nodes that receive it to do."""

    #: ``text`` to the node's subscribers of the channel ``target``.
    CHANNEL = "c"
    #: ``text`` to the node's connections signed in as the user ``target``.
    USER = "u"
    #: ``text`` to the node's connections watching the user ``target``.
    WATCHERS = "w"
    #: close the node's connections signed in as the user ``target`` (4009).
    TERMINATE = "t"
    #: only the node ``node``: report ``text`` (``channel_occupied`` or ``member_added``) for
    #: ``target`` (and ``user_id``) to its webhooks, which cancels an event it holds.
    HOOK = "h"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Work one node hands to every other node of its cluster through the :class:`Broker`.

    ``text`` is the protocol message, encoded once by the publishing node; receivers write it
    as it is. ``exclude`` is a socket id that must not receive it (cluster-wide: socket ids are
    unique among live nodes).
    """

    kind: DeliveryKind
    app_id: str
    target: str
    text: str = ""
    exclude: str | None = None
    user_id: str | None = None
    node: str | None = None
    #: A presence member event's :attr:`Transition.version` (0: deliver to every subscriber).
    version: int = 0


class BrokerHandler(Protocol):
    """Hears what other nodes publish (the node). Called on the event loop."""

    def on_delivery(self, delivery: Delivery) -> None:
        """Carry out ``delivery`` for this node's own connections."""


class Broker(Protocol):
    """Carries deliveries from this node to every other node, at most once each.

    A node never receives its own deliveries back: it delivers to its own connections itself,
    so local delivery works even when the broker does not.
    """

    def attach(self, handler: BrokerHandler) -> None:
        """Hand every delivery from another node to ``handler``."""

    def publish(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the other nodes; never blocks, never raises."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A cluster-wide change that one node, and only one, reports.

    ``kind`` is ``occupied`` or ``vacated`` (a channel's first subscriber joined or its last
    left, on any node), ``added`` or ``removed`` (a presence user's first connection joined or
    their last left), ``online`` or ``offline`` (a signed-in user's first or last connection).
    ``holder`` is set on ``occupied`` and ``added`` when they reverse a ``vacated`` or
    ``removed`` that a node still holds for the webhook delay: that node reports it instead,
    so that its webhooks drop both.
    """

    kind: str
    app_id: str
    channel: str = ""
    user_id: str | None = None
    holder: str | None = None
    #: ``added``: the member's user info.
    user_info: Any = None
    #: ``added`` / ``removed``, when the backend orders them (0 when it need not): the app's
    #: member-change counter after this one. A node may hear of a change from another node
    #: after it answered a subscription whose member list already counted it; the event is
    #: news only to subscribers whose list is older (see :attr:`Joined.version`).
    version: int = 0


@dataclass(frozen=True, slots=True)
class Joined:
    """The answer to :meth:`ClusterState.join`.

    Attributes:
        full: the presence channel already has ``max_presence_members`` other users: nothing
            was counted.
        transitions: what the join changed cluster-wide (``occupied``, ``added``).
        members: presence channels: every member cluster-wide, user id → user info.
        cached: cache channels: the last event's text, or ``None`` (a cache miss).
        version: see below.
    """

    full: bool = False
    transitions: tuple[Transition, ...] = ()
    members: dict[str, Any] | None = None
    cached: str | None = None
    #: Presence channels: the app's member-change counter when ``members`` was read (0 when
    #: the backend delivers member events in order anyway).
    version: int = 0


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The answer to :meth:`ClusterState.sign_in`: ``online`` transitions, and which watched
    users are online anywhere in the cluster."""

    transitions: tuple[Transition, ...] = ()
    online: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """A channel as the HTTP API reports it, counted over the whole cluster.

    ``user_count`` is ``None`` for channels that are not presence channels; ``cache`` is the
    cached event ``(event text, data, seconds left)`` of a cache channel.
    """

    occupied: bool
    subscription_count: int
    user_count: int | None
    cache: tuple[str, str, float] | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """What one node holds, for :meth:`ClusterState` to rebuild its entries from.

    ``channels``: (app id, channel) → subscriptions; ``members``: (app id, channel, user id) →
    (user info, connections); ``users``: (app id, user id) → signed-in connections.
    """

    channels: dict[tuple[str, str], int]
    members: dict[tuple[str, str, str], tuple[Any, int]]
    users: dict[tuple[str, str], int]


class ClusterHandler(Protocol):
    """Hears the transitions the cluster state finds on its own (the node)."""

    def on_transitions(self, transitions: Sequence[Transition]) -> None:
        """Report ``transitions``: another node's entries expired, or this node's were
        rebuilt after the state was unreachable."""

    def holding(self) -> Holding:
        """Everything this node holds now."""


class ClusterState(Protocol):
    """Channel occupancy, presence members, signed-in users and cache, shared by all nodes.

    Each node counts its own subscriptions and connections under its ``node_id`` and keeps
    them alive; a node that stops doing so is dropped by the others, which report what that
    changes. Calls that change state take a ``done`` callback and run in the order they were
    made; ``done`` gets ``None`` when the state could not be reached (the node then acts on
    what it knows itself). A backend may call ``done`` before returning.
    """

    @property
    def node_id(self) -> str:
        """This node's id, unique among live nodes; its socket ids start with it."""

    def attach(self, handler: ClusterHandler) -> None:
        """Report later transitions to ``handler``."""

    def join(
        self,
        app: App,
        channel: str,
        member: Member | None,
        now: float,
        done: Callable[[Joined | None], None],
    ) -> None:
        """Count one more subscription of this node to ``channel`` (by ``member``)."""

    def leave(
        self,
        app: App,
        channel: str,
        member: Member | None,
        done: Callable[[tuple[Transition, ...] | None], None],
    ) -> None:
        """Count one subscription less; ``done`` gets ``vacated`` and ``removed``."""

    def sign_in(
        self,
        app: App,
        user_id: str,
        watchlist: tuple[str, ...],
        done: Callable[[SignedIn | None], None],
    ) -> None:
        """Count one more connection of this node signed in as ``user_id``."""

    def sign_out(
        self, app: App, user_id: str, done: Callable[[tuple[Transition, ...] | None], None]
    ) -> None:
        """Count one such connection less; ``done`` gets ``offline`` when it was the last."""

    def members(
        self, app: App, channel: str, done: Callable[[dict[str, Any] | None], None]
    ) -> None:
        """The presence ``channel``'s members, user id → user info."""

    def cache(self, app: App, channel: str, text: str, data: str, now: float) -> None:
        """Keep ``text`` as the cache ``channel``'s last event for ``app.cache_ttl`` seconds."""

    async def channel(self, app: App, channel: str, now: float) -> ChannelSummary:
        """One channel, cluster-wide.

        Raises:
            ClusterUnavailable: the state cannot be reached.
        """

    async def channels(self, app: App, prefix: str, now: float) -> dict[str, ChannelSummary]:
        """Every occupied channel whose name starts with ``prefix``.

        Raises:
            ClusterUnavailable: the state cannot be reached.
        """

    async def users(self, app: App, channel: str) -> list[str]:
        """The user ids of a presence channel's members.

        Raises:
            ClusterUnavailable: the state cannot be reached.
        """
