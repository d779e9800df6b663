"""What routes depend on: the services, the caller's identity, and body parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from leadcast.config import Settings
from leadcast.services.accounts import Accounts
from leadcast.services.alerts import AlertSettingsStore
from leadcast.services.distribution import Distributor
from leadcast.services.errors import Forbidden, InvalidInput, NotAuthenticated
from leadcast.services.inbox import Inbox
from leadcast.services.leads import LeadBook
from leadcast.services.profiles import ApiKeyView, UserView
from leadcast.services.security import API_KEY_PREFIX
from leadcast.services.throttle import LoginLimits, LoginThrottle, MemoryLoginThrottle

__all__ = [
    "LOGIN_THREADS",
    "MAX_BODY",
    "PM",
    "Admin",
    "Caller",
    "Services",
    "Submitter",
    "bearer_token",
    "read_json_object",
    "read_object",
    "services",
]

MAX_BODY = 64 * 1024
SUBMIT_THREADS = 8
"""Most lead submissions distributed at once (in worker threads); more wait their turn. More
would only contend for the GIL and the connection pool without adding throughput."""
LOGIN_THREADS = 2
"""Most logins checked at once (each hashes a password with scrypt, ~16 MiB and tens of
milliseconds of CPU); more wait their turn, so a burst of logins cannot take every core."""

_bearer = HTTPBearer(auto_error=False, description="A login token (`POST /api/auth/login`).")
_api_key = APIKeyHeader(
    name="X-Api-Key", auto_error=False, description="A lead-source API key (`lck_…`)."
)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the routes call, built once per app from the settings and an engine."""

    settings: Settings
    accounts: Accounts
    distributor: Distributor
    leads: LeadBook
    inbox: Inbox
    alerts: AlertSettingsStore
    submit_limiter: CapacityLimiter
    login_limiter: CapacityLimiter

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        on_commit: Callable[[], None] | None,
        *,
        login_throttle: LoginThrottle | None = None,
    ) -> Services:
        return cls(
            settings=settings,
            accounts=Accounts(
                engine,
                token_ttl=timedelta(hours=settings.token_ttl_hours),
                login_throttle=login_throttle
                or MemoryLoginThrottle(
                    LoginLimits(
                        per_email=settings.login_attempts_per_email,
                        per_client=settings.login_attempts_per_client,
                        window=settings.login_window,
                    )
                ),
            ),
            distributor=Distributor.from_settings(engine, settings, on_commit=on_commit),
            leads=LeadBook(engine),
            inbox=Inbox(engine),
            alerts=AlertSettingsStore(engine),
            submit_limiter=CapacityLimiter(SUBMIT_THREADS),
            login_limiter=CapacityLimiter(LOGIN_THREADS),
        )


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKeyDep = Annotated[str | None, Depends(_api_key)]


async def bearer_token(credentials: BearerDep) -> str:
    """The bearer token; 401 without one."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("missing bearer token")
    return credentials.credentials


async def caller(found: ServicesDep, token: Annotated[str, Depends(bearer_token)]) -> UserView:
    """The logged-in user; 401 without a valid token."""
    return await run_in_threadpool(found.accounts.user_for_token, token)


Caller = Annotated[UserView, Depends(caller)]


async def admin(user: Caller) -> UserView:
    """The logged-in admin; 403 for a PM."""
    if not user.is_admin:
        raise Forbidden("admins only")
    return user


async def pm(user: Caller) -> UserView:
    """The logged-in property manager; 403 for an admin."""
    if user.is_admin:
        raise Forbidden("property managers only")
    return user


Admin = Annotated[UserView, Depends(admin)]
PM = Annotated[UserView, Depends(pm)]


async def submitter(
    found: ServicesDep, credentials: BearerDep, api_key: ApiKeyDep
) -> ApiKeyView | UserView:
    """Who may submit a lead: a lead-source API key (``X-Api-Key`` or ``Bearer``) or an admin."""
    secret = api_key or (credentials.credentials if credentials is not None else None)
    if not secret:
        raise NotAuthenticated("missing API key: send X-Api-Key or Authorization: Bearer")
    if secret.startswith(API_KEY_PREFIX):
        # A key verified in the last few seconds needs no database read nor thread hop.
        if (key := found.accounts.cached_api_key(secret)) is not None:
            return key
        return await run_in_threadpool(found.accounts.api_key_for, secret)
    user = await run_in_threadpool(found.accounts.user_for_token, secret)
    if not user.is_admin:
        raise Forbidden("only lead-source API keys and admins may submit leads")
    return user


Submitter = Annotated[ApiKeyView | UserView, Depends(submitter)]


async def _body(request: Request) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise HTTPException(413, f"request body over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise HTTPException(413, f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is not JSON, 422 when not an object."""
    raw = await _body(request)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(400, f"malformed JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    return data


async def read_object(request: Request) -> dict[str, Any]:
    """A JSON object or a form-encoded body (what Laravel Echo / pusher-js send)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await read_json_object(request)
    raw = await _body(request)
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=20
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form body") from None
    return dict(pairs)
