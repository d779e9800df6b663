"""Login, the caller, and the real-time endpoints a browser client needs."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from leadcast.api.deps import Caller, ServicesDep, bearer_token, read_object
from leadcast.api.schemas import (
    AlertSettingsIn,
    AlertSettingsOut,
    BroadcastAuthOut,
    ErrorOut,
    LoginOut,
    LoginRequest,
    PMOut,
    RealtimeConfigOut,
    UserAuthOut,
    UserOut,
)
from leadcast.leads.notifications import format_timestamp
from leadcast.protocol.channels import validate_channel_name
from leadcast.protocol.signatures import channel_auth, user_auth
from leadcast.services.distribution import EVENT, channel_for
from leadcast.services.errors import Forbidden, InvalidInput, ServiceError

__all__ = ["router"]

router = APIRouter()
_SOCKET_ID = re.compile(r"^\d{1,20}\.\d{1,20}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class NotConfigured(ServiceError):
    """Broadcasting has no Pusher credentials (``BROADCAST_DRIVER`` log or null)."""


@router.post(
    "/auth/login",
    response_model=LoginOut,
    tags=["auth"],
    summary="Log in",
    description=(
        "Exchange an email and password for a bearer token (401 when they are wrong). After "
        "5 failed attempts for one email within 15 minutes, or 50 from one client address, "
        "further attempts are 429 with `Retry-After` (seconds), even with the right password, "
        "until the oldest failure is 15 minutes old; a successful login resets the email's "
        "count."
    ),
    responses={
        401: {"model": ErrorOut},
        429: {
            "model": ErrorOut,
            "description": "Too many failed attempts.",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until an attempt is allowed again.",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
async def login(body: LoginRequest, request: Request, found: ServicesDep) -> dict[str, Any]:
    client = request.client.host if request.client is not None else None
    result = await anyio.to_thread.run_sync(
        lambda: found.accounts.login(body.email, body.password, client=client),
        limiter=found.login_limiter,
    )
    return {
        "token": result.token,
        "expires_at": format_timestamp(result.expires_at),
        "user": result.user.as_dict(),
    }


@router.post(
    "/auth/logout",
    status_code=204,
    tags=["auth"],
    summary="Log out",
    description="Revoke the bearer token of this request.",
)
async def logout(
    user: Caller, found: ServicesDep, token: Annotated[str, Depends(bearer_token)]
) -> None:
    await run_in_threadpool(found.accounts.logout, token)


@router.get(
    "/me",
    response_model=PMOut | UserOut,
    tags=["auth"],
    summary="The logged-in user",
    description="The user the bearer token belongs to; for a PM with preferences and stats.",
)
async def me(user: Caller, found: ServicesDep) -> dict[str, Any]:
    if user.is_admin:
        return user.as_dict()
    view = await run_in_threadpool(found.accounts.get_pm, user.id)
    return view.as_dict()


@router.get(
    "/me/preferences",
    response_model=AlertSettingsOut,
    tags=["auth"],
    summary="My alert settings",
    description=(
        "How the dashboard alerts the logged-in user: `sound` for excellent leads, the lowest "
        "tier that pops a toast (`toast_min_tier`), and `desktop_notifications` while the tab "
        "is hidden. Defaults until saved: no sound, every tier, no desktop notifications."
    ),
)
async def alert_settings(user: Caller, found: ServicesDep) -> dict[str, Any]:
    settings = await run_in_threadpool(found.alerts.get, user.id)
    return settings.as_dict()


@router.put(
    "/me/preferences",
    response_model=AlertSettingsOut,
    tags=["auth"],
    summary="Save my alert settings",
    description="Any subset of the fields; the others keep their values. 422 names every "
    "unknown field or invalid value, and then nothing is saved.",
)
async def save_alert_settings(
    body: AlertSettingsIn, user: Caller, found: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    settings = await run_in_threadpool(found.alerts.update, user.id, changes)
    return settings.as_dict()


def _credentials(found: ServicesDep) -> tuple[str, str]:
    settings = found.settings
    if not settings.pusher_app_key or not settings.pusher_app_secret:
        raise NotConfigured("real-time broadcasting is not configured on this server")
    return settings.pusher_app_key, settings.pusher_app_secret


def _socket_id(data: dict[str, Any]) -> str:
    socket_id = data.get("socket_id")
    if not isinstance(socket_id, str) or not _SOCKET_ID.match(socket_id):
        raise InvalidInput({"socket_id": "must be a socket id like 123.456"})
    return socket_id


@router.post(
    "/broadcasting/auth",
    response_model=BroadcastAuthOut,
    tags=["real-time"],
    summary="Authorise a private channel subscription",
    description=(
        "Laravel-compatible channel authorisation for pusher-js / Laravel Echo: form-encoded "
        "or JSON `socket_id` and `channel_name`, with `Authorization: Bearer <token>`. A "
        "property manager may subscribe only to `private-property-manager.{their id}`: any "
        "other channel is 403; no or an invalid token is 401."
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "socket_id": {"type": "string", "example": "123.456"},
                            "channel_name": {
                                "type": "string",
                                "example": "private-property-manager.2",
                            },
                        },
                        "required": ["socket_id", "channel_name"],
                    }
                }
            }
        }
    },
)
async def broadcasting_auth(request: Request, user: Caller, found: ServicesDep) -> dict[str, str]:
    data = await read_object(request)
    socket_id = _socket_id(data)
    channel = data.get("channel_name")
    problem = validate_channel_name(channel)
    if problem is not None or not isinstance(channel, str):
        raise InvalidInput({"channel_name": problem or "must be a channel name"})
    if user.is_admin or channel != channel_for(user.id):
        raise Forbidden(f"you may not subscribe to {channel}")
    key, secret = _credentials(found)
    return {"auth": channel_auth(key, secret, socket_id, channel, None)}


@router.post(
    "/broadcasting/user-auth",
    response_model=UserAuthOut,
    tags=["real-time"],
    summary="Authenticate a connection (pusher:signin)",
    description=(
        "User authentication for pusher-js `signin()`: form-encoded or JSON `socket_id`, "
        "Bearer token. Returns the signed `user_data` (`id` and `user_info.name`)."
    ),
)
async def broadcasting_user_auth(
    request: Request, user: Caller, found: ServicesDep
) -> dict[str, str]:
    data = await read_object(request)
    socket_id = _socket_id(data)
    key, secret = _credentials(found)
    user_data = json.dumps(
        {"id": str(user.id), "user_info": {"name": user.name, "role": user.role.value}},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return {"auth": user_auth(key, secret, socket_id, user_data), "user_data": user_data}


@router.get(
    "/realtime-config",
    response_model=RealtimeConfigOut,
    tags=["real-time"],
    summary="Client configuration for pusher-js",
    description=(
        "What a browser needs to connect: the app key, cluster, WebSocket host and port "
        "(absent for hosted Pusher), TLS, the auth endpoints, the channel prefix (append the "
        "PM's id) and the event name. No secret is included."
    ),
)
async def realtime_config(request: Request, found: ServicesDep) -> dict[str, Any]:
    settings = found.settings
    own_host = settings.pusher_host is not None
    ws_host = settings.pusher_host
    browser_host = request.url.hostname
    if ws_host in _LOOPBACK and browser_host and browser_host not in _LOOPBACK:
        # The relay reaches the server on loopback; a browser on another machine cannot,
        # so it is sent to the host it reached this API on.
        ws_host = browser_host
    return {
        "enabled": settings.broadcast_driver == "pusher",
        "key": settings.pusher_app_key,
        "cluster": settings.pusher_app_cluster,
        "wsHost": ws_host,
        "wsPort": settings.pusher_port if own_host else None,
        "wssPort": settings.pusher_port if own_host else None,
        "forceTLS": settings.pusher_scheme == "https",
        "enabledTransports": ["ws", "wss"],
        "authEndpoint": "/api/broadcasting/auth",
        "userAuthEndpoint": "/api/broadcasting/user-auth",
        "channelPrefix": "private-property-manager.",
        "event": EVENT,
    }
