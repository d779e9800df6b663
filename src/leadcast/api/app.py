"""The HTTP API application factory.

``create_api(settings, engine=..., on_commit=relay.wake)`` returns a FastAPI app serving
``/api/...`` with OpenAPI docs at ``/api/docs`` and ``/api/openapi.json``. Routes are thin:
they authenticate, parse, call a service in a worker thread, and shape JSON. Every error is
JSON: ``{"error": "..."}``, plus ``"fields"`` naming each invalid field on 422.

The app does not migrate the database; the caller runs ``leadcast.db.migrate`` first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadcast import __version__
from leadcast.api import routes_admin, routes_auth, routes_inbox, routes_leads
from leadcast.api.deps import MAX_BODY, Services
from leadcast.api.routes_auth import NotConfigured
from leadcast.config import Settings
from leadcast.db.engine import make_engine
from leadcast.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    ServiceError,
    TooManyAttempts,
)
from leadcast.services.throttle import LoginThrottle

__all__ = ["create_api"]

log = logging.getLogger("leadcast.api")

_STATUS: Mapping[type[ServiceError], int] = {
    InvalidInput: 422,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooManyAttempts: 429,
    NotConfigured: 503,
}

DESCRIPTION = """\
Real-time lead alerts for property managers.

* **Lead sources** submit leads with an API key: `POST /api/leads`.
* Each lead is matched to property managers, scored 0-100 with reasons for each, and
  `lead.distributed` is broadcast on `private-property-manager.{id}` (Pusher protocol).
* **Property managers** log in (`POST /api/auth/login`), authorise their channel through
  `POST /api/broadcasting/auth`, and work their leads and notification inbox.
* **Admins** manage property managers and API keys.

Authenticate with `Authorization: Bearer <token>`. Errors are JSON `{"error": "..."}`; invalid
input is 422 with `"fields"` naming each problem.
"""


def _status_of(error: ServiceError) -> int:
    for kind in type(error).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 400


def _error(
    status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    if isinstance(error, InvalidInput):
        return _error(422, error.message, fields=error.fields)
    if isinstance(error, TooManyAttempts):
        return _error(429, error.message, headers={"Retry-After": str(error.retry_after)})
    return _error(_status_of(error), error.message)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems: dict[str, str] = {}
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return _error(400, "malformed JSON")
        location = [str(part) for part in item.get("loc", ()) if part not in ("body",)]
        if location and location[0] in ("query", "path", "header"):
            location = location[1:]
        name = ".".join(location) or "body"
        problems.setdefault(name, str(item.get("msg", "invalid")))
    return _error(422, "invalid input: " + ", ".join(sorted(problems)), fields=problems)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else "request failed"
    return _error(error.status_code, detail)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _error(500, "internal error")


class _BodyLimit:
    """Caps request bodies: a declared ``Content-Length`` over the limit is refused up front;
    a body without one (chunked) fails with 413 as soon as it grows past the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and (not value.isdigit() or int(value) > self._limit):
                    response = _error(413, f"request body over {self._limit} bytes")
                    await response(scope, receive, send)
                    return
            received = 0

            async def capped() -> Message:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > self._limit:
                    raise HTTPException(413, f"request body over {self._limit} bytes")
                return message

            await self._app(scope, capped, send)
            return
        await self._app(scope, receive, send)


def create_api(
    settings: Settings,
    *,
    engine: Engine | None = None,
    on_commit: Callable[[], None] | None = None,
    login_throttle: LoginThrottle | None = None,
) -> FastAPI:
    """Build the HTTP API.

    Args:
        settings: the validated settings.
        engine: the database; by default one is made from ``settings.database_url`` and
            disposed of when the app shuts down (its lifespan).
        on_commit: called (from a worker thread) after each lead is committed with
            recipients; pass the relay's ``wake``.
        login_throttle: counts failed logins; by default in this process's memory.

    Returns:
        The FastAPI app (ASGI), routes under ``/api``.
    """
    own_engine = engine is None
    database = engine if engine is not None else make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_engine:
                database.dispose()

    app = FastAPI(
        title="leadcast",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        openapi_tags=[
            {"name": "auth", "description": "Log in and out; who am I."},
            {"name": "leads", "description": "Lead intake and the property manager's leads."},
            {"name": "notifications", "description": "The property manager's inbox."},
            {"name": "real-time", "description": "Pusher channel authorisation and config."},
            {"name": "admin", "description": "Property managers and API keys (admins only)."},
        ],
    )
    app.state.services = Services.build(
        settings, database, on_commit, login_throttle=login_throttle
    )
    app.add_middleware(_BodyLimit, limit=MAX_BODY)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    for module in (routes_auth, routes_leads, routes_inbox, routes_admin):
        app.include_router(module.router, prefix="/api")

    @app.get("/api/health", tags=["auth"], summary="Liveness", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
