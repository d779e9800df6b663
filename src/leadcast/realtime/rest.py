"""The Pusher HTTP API: a signed request in, a JSON response out.

Routes (``{id}`` is the app id):

- ``POST /apps/{id}/events`` and ``POST /apps/{id}/batch_events``
- ``GET /apps/{id}/channels``, ``GET /apps/{id}/channels/{name}``,
  ``GET /apps/{id}/channels/{name}/users``
- ``POST /apps/{id}/users/{user_id}/terminate_connections``, and the same without the
  ``/apps/{id}`` prefix (the official Python SDK posts there; the app comes from
  ``auth_key``).

Each request is verified before anything is read from it; a batch is validated whole
before any of it is published, so a rejected request changes nothing.

Channel and user counts come from the node's :class:`~leadcast.realtime.ports.ClusterState`,
so they are the whole cluster's. Answers that need them are coroutines (:data:`Reply`); the
others are ready at once. When the cluster state cannot be reached they answer 503.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from leadcast.protocol.apps import App, AppRegistry
from leadcast.protocol.channels import is_cache_channel, validate_channel_name
from leadcast.protocol.errors import RequestError, SignatureError
from leadcast.protocol.signatures import verify_request
from leadcast.realtime.node import Node
from leadcast.realtime.ports import ChannelSummary, ClusterUnavailable

__all__ = ["MAX_BODY_BYTES", "Reply", "Response", "RestApi"]

#: Largest request body read at all; the per-app data limit is checked per event.
MAX_BODY_BYTES = 1_048_576

_SOCKET_ID = re.compile(r"\d{1,20}\.\d{1,20}")
_APP_ROUTE = re.compile(r"/apps/(?P<app>[^/]+)(?P<rest>/.*)")
_TERMINATE = re.compile(r"/users/(?P<user>[^/]+)/terminate_connections")
_CHANNEL = re.compile(r"/channels/(?P<name>[^/]+)(?P<users>/users)?")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


#: An answer now, or one that needs the cluster state first.
Reply = Response | Awaitable[Response]


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": message})


async def _unavailable_as_503(pending: Awaitable[Response]) -> Response:
    try:
        return await pending
    except ClusterUnavailable as error:
        return _error(503, f"cluster state unavailable: {error}")
    except RequestError as error:
        return _error(error.status, error.message)


@dataclass(frozen=True, slots=True)
class _Event:
    name: str
    data: str
    channels: tuple[str, ...]
    socket_id: str | None
    info: frozenset[str]


class RestApi:
    """Routes and answers HTTP API requests against a :class:`Node`."""

    def __init__(self, apps: AppRegistry, node: Node, *, path_prefix: str = "") -> None:
        """Serve the API of ``apps`` against ``node``.

        Args:
            path_prefix: also serve under this prefix (``--path-prefix``), e.g. ``/ws``.
        """
        self.apps = apps
        self.node = node
        self.path_prefix = path_prefix.rstrip("/")

    def handle(
        self,
        method: str,
        raw_path: str,
        query: str,
        body: bytes,
        now: float,
        *,
        monotonic: float | None = None,
    ) -> Reply | None:
        """Answer a request, or return ``None`` when the path is not part of this API.

        Args:
            now: wall-clock seconds, for the ``auth_timestamp`` window.
            monotonic: the node's clock (cache expiry); defaults to ``now``.
        """
        # The forms of the path a signature may cover: as sent and unescaped, and, under the
        # path prefix, the same without it. Routing uses the last: unescaped, unprefixed.
        forms = [raw_path, unquote(raw_path)]
        prefix = self.path_prefix
        if prefix and raw_path.startswith(prefix + "/"):
            forms += [form[len(prefix) :] for form in forms]
        signed_forms = tuple(dict.fromkeys(forms))
        path = forms[-1]
        params = {key.lower(): value for key, value in parse_qsl(query, keep_blank_values=True)}
        match = _APP_ROUTE.fullmatch(path)
        if match is not None:
            app = self.apps.by_id(match["app"])
            if app is None:
                return _error(404, f"unknown app id {match['app'][:100]!r}")
            rest = match["rest"]
        else:
            if _TERMINATE.fullmatch(path) is None:
                return None
            app = self.apps.by_key(params.get("auth_key", ""))
            if app is None:
                return _error(401, "unknown auth_key")
            rest = path
        route = self._route(method, rest)
        if route is None:
            return _error(404, f"no such endpoint: {method} {path[:200]}")
        if isinstance(route, Response):
            return route
        try:
            self._verify(app, method, signed_forms, params, body, now)
        except SignatureError as error:
            return _error(401, f"authentication failed: {error}")
        if not app.enabled:
            return _error(403, "app is disabled")
        try:
            reply = route(app, rest, params, body, now if monotonic is None else monotonic)
        except RequestError as error:
            return _error(error.status, error.message)
        return reply if isinstance(reply, Response) else _unavailable_as_503(reply)

    def _route(
        self, method: str, rest: str
    ) -> Callable[[App, str, dict[str, str], bytes, float], Reply] | Response | None:
        if rest in ("/events", "/batch_events"):
            if method != "POST":
                return _error(405, f"{rest} takes POST")
            return self._events if rest == "/events" else self._batch
        if rest == "/channels" or _CHANNEL.fullmatch(rest):
            return self._channels if method == "GET" else _error(405, "channels take GET")
        if _TERMINATE.fullmatch(rest):
            return self._terminate if method == "POST" else _error(405, "terminate takes POST")
        return None

    @staticmethod
    def _verify(
        app: App,
        method: str,
        candidates: tuple[str, ...],
        params: dict[str, str],
        body: bytes,
        now: float,
    ) -> None:
        # The signature covers the path as the client wrote it; a client that escaped
        # characters in it, or sits behind the path prefix, may have signed another form.
        for candidate in candidates:
            try:
                verify_request(
                    key=app.key,
                    secret=app.secret,
                    method=method,
                    path=candidate,
                    params=params,
                    body=body,
                    now=now,
                )
                return
            except SignatureError as error:
                if candidate is candidates[-1] or str(error) != "invalid auth_signature":
                    raise

    # -- publishing ----------------------------------------------------------------------------

    def _events(
        self, app: App, rest: str, params: dict[str, str], body: bytes, now: float
    ) -> Reply:
        event = self._event(app, _json_object(body), batch=False)
        self.node.publish(
            app, event.channels, event.name, event.data, exclude_socket_id=event.socket_id, now=now
        )
        if not event.info:
            return Response(200, {})
        return self._events_info(app, event, now)

    async def _events_info(self, app: App, event: _Event, now: float) -> Response:
        return Response(200, {"channels": await self._info(app, event, now)})

    def _batch(self, app: App, rest: str, params: dict[str, str], body: bytes, now: float) -> Reply:
        batch = _json_object(body).get("batch")
        if not isinstance(batch, list) or not batch:
            raise RequestError(400, "batch must be a non-empty list of events")
        if len(batch) > app.max_batch_events:
            raise RequestError(400, f"batch has more than {app.max_batch_events} events")
        events = []
        for index, raw in enumerate(batch):
            if not isinstance(raw, dict):
                raise RequestError(400, f"batch[{index}] must be an object")
            try:
                events.append(self._event(app, raw, batch=True))
            except RequestError as error:
                raise RequestError(error.status, f"batch[{index}]: {error.message}") from None
        for event in events:
            self.node.publish(
                app,
                event.channels,
                event.name,
                event.data,
                exclude_socket_id=event.socket_id,
                now=now,
            )
        if not any(event.info for event in events):
            return Response(200, {})
        return self._batch_info(app, events, now)

    async def _batch_info(self, app: App, events: list[_Event], now: float) -> Response:
        answers = []
        for event in events:
            answers.append(
                (await self._info(app, event, now))[event.channels[0]] if event.info else {}
            )
        return Response(200, {"batch": answers})

    @staticmethod
    def _event(app: App, raw: dict[str, Any], *, batch: bool) -> _Event:
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(400, "name must be a non-empty string")
        if len(name) > app.max_event_name_length:
            raise RequestError(400, f"name is longer than {app.max_event_name_length} characters")
        data = raw.get("data")
        if not isinstance(data, str):
            raise RequestError(400, "data must be a string (JSON-encode objects)")
        if len(data.encode()) > app.max_message_bytes:
            raise RequestError(413, f"data is over {app.max_message_bytes} bytes")
        channels: list[Any]
        if "channels" in raw and not batch:
            if "channel" in raw:
                raise RequestError(400, "give channel or channels, not both")
            channels = raw["channels"]
            if not isinstance(channels, list) or not channels:
                raise RequestError(400, "channels must be a non-empty list")
        elif "channel" in raw:
            channels = [raw["channel"]]
        else:
            raise RequestError(400, "channel is required" if batch else "channels is required")
        if len(channels) > app.max_channels_per_event:
            raise RequestError(400, f"more than {app.max_channels_per_event} channels")
        for channel in channels:
            problem = validate_channel_name(channel)
            if problem is not None:
                shown = channel[:200] if isinstance(channel, str) else channel
                raise RequestError(400, f"{problem}: {shown!r}")
        socket_id = raw.get("socket_id")
        if socket_id is not None and (
            not isinstance(socket_id, str) or not _SOCKET_ID.fullmatch(socket_id)
        ):
            raise RequestError(400, "socket_id must look like 1234.5678")
        info = _info_fields(raw.get("info"), {"user_count", "subscription_count"})
        if "user_count" in info and any(not c.startswith("presence-") for c in channels):
            raise RequestError(400, "info=user_count is only for presence channels")
        return _Event(name, data, tuple(dict.fromkeys(channels)), socket_id, info)

    async def _info(self, app: App, event: _Event, now: float) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for channel in event.channels:
            info = await self.node.cluster.channel(app, channel, now)
            fields: dict[str, int] = {}
            if "subscription_count" in event.info:
                fields["subscription_count"] = info.subscription_count
            if "user_count" in event.info and info.user_count is not None:
                fields["user_count"] = info.user_count
            result[channel] = fields
        return result

    # -- queries -------------------------------------------------------------------------------

    async def _channels(
        self, app: App, rest: str, params: dict[str, str], body: bytes, now: float
    ) -> Response:
        if rest == "/channels":
            prefix = params.get("filter_by_prefix", "")
            info = _info_fields(params.get("info"), {"user_count", "subscription_count"})
            if "user_count" in info and not prefix.startswith("presence-"):
                raise RequestError(400, "info=user_count needs filter_by_prefix=presence-")
            channels = {
                name: _channel_fields(found, info)
                for name, found in (await self.node.cluster.channels(app, prefix, now)).items()
            }
            return Response(200, {"channels": channels})
        match = _CHANNEL.fullmatch(rest)
        assert match is not None
        name = match["name"]
        problem = validate_channel_name(name)
        if problem is not None:
            raise RequestError(400, problem)
        if match["users"]:
            if not name.startswith("presence-"):
                raise RequestError(400, "users are only listed for presence channels")
            users = await self.node.cluster.users(app, name)
            return Response(200, {"users": [{"id": user_id} for user_id in users]})
        info = _info_fields(params.get("info"), {"user_count", "subscription_count", "cache"})
        if "user_count" in info and not name.startswith("presence-"):
            raise RequestError(400, "info=user_count is only for presence channels")
        if "cache" in info and not is_cache_channel(name):
            raise RequestError(400, "info=cache is only for cache channels")
        found = await self.node.cluster.channel(app, name, now)
        body_out: dict[str, Any] = {"occupied": found.occupied, **_channel_fields(found, info)}
        if "cache" in info and found.cache is not None:
            text, data, ttl = found.cache
            event = json.loads(text)["event"]
            body_out["cache"] = {"event": event, "data": data, "ttl": max(0, int(ttl))}
        return Response(200, body_out)

    def _terminate(
        self, app: App, rest: str, params: dict[str, str], body: bytes, now: float
    ) -> Response:
        match = _TERMINATE.fullmatch(rest)
        assert match is not None
        self.node.terminate_user(app, match["user"])
        return Response(200, {})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body)
    except ValueError:
        raise RequestError(400, "body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise RequestError(400, "body must be a JSON object")
    return raw


def _info_fields(raw: object, allowed: set[str]) -> frozenset[str]:
    if raw is None or raw == "":
        return frozenset()
    if not isinstance(raw, str):
        raise RequestError(400, "info must be a comma-separated string")
    fields = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = fields - allowed
    if unknown:
        raise RequestError(400, f"unknown info attribute(s): {', '.join(sorted(unknown))}")
    return fields


def _channel_fields(found: ChannelSummary, info: frozenset[str]) -> dict[str, int]:
    fields: dict[str, int] = {}
    if "user_count" in info and found.user_count is not None:
        fields["user_count"] = found.user_count
    if "subscription_count" in info:
        fields["subscription_count"] = found.subscription_count
    return fields
