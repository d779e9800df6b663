"""Admin: property managers, their preferences, and lead-source API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from leadcast.api.deps import Admin, ServicesDep
from leadcast.api.schemas import (
    ApiKeyIssued,
    ApiKeyOut,
    ApiKeyRequest,
    PMCreate,
    PMList,
    PMOut,
    PMUpdate,
)
from leadcast.services.profiles import Preferences

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id.")]


@router.get(
    "/pms",
    response_model=PMList,
    summary="List property managers",
    description="Property managers with their preferences and today's counters, by id.",
)
async def list_pms(
    user: Admin,
    found: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    views = await run_in_threadpool(found.accounts.list_pms, limit=limit, offset=offset)
    total = await run_in_threadpool(found.accounts.count_pms)
    return {"items": [v.as_dict() for v in views], "total": total}


@router.post(
    "/pms",
    response_model=PMOut,
    status_code=201,
    summary="Create a property manager",
    description=(
        "A new PM account with a password and preferences (property types, service ZIP "
        "codes, unit range, daily cap, max open leads; no limit unless given). 409 when the "
        "email is taken."
    ),
)
async def create_pm(body: PMCreate, user: Admin, found: ServicesDep) -> dict[str, Any]:
    prefs = body.preferences.model_dump(exclude_none=True) if body.preferences else {}
    for listed in ("property_types", "service_zips"):
        if listed in prefs:
            prefs[listed] = tuple(prefs[listed])

    def create() -> dict[str, Any]:
        created = found.accounts.create_user(
            email=body.email,
            password=body.password,
            name=body.name,
            preferences=Preferences(**prefs),
        )
        return found.accounts.get_pm(created.id).as_dict()

    return await run_in_threadpool(create)


@router.get("/pms/{pm_id}", response_model=PMOut, summary="One property manager")
async def get_pm(pm_id: Id, user: Admin, found: ServicesDep) -> dict[str, Any]:
    view = await run_in_threadpool(found.accounts.get_pm, pm_id)
    return view.as_dict()


@router.patch(
    "/pms/{pm_id}",
    response_model=PMOut,
    summary="Update a property manager",
    description="Rename and/or change any preferences; omitted fields are kept.",
)
async def update_pm(pm_id: Id, body: PMUpdate, user: Admin, found: ServicesDep) -> dict[str, Any]:
    changes = body.preferences.model_dump(exclude_unset=True) if body.preferences else {}
    view = await run_in_threadpool(
        lambda: found.accounts.update_pm(pm_id, name=body.name, changes=changes)
    )
    return view.as_dict()


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="List lead-source API keys")
async def list_api_keys(user: Admin, found: ServicesDep) -> list[dict[str, Any]]:
    keys = await run_in_threadpool(found.accounts.list_api_keys)
    return [k.as_dict() for k in keys]


@router.post(
    "/api-keys",
    response_model=ApiKeyIssued,
    status_code=201,
    summary="Issue a lead-source API key",
    description=(
        "A key for `POST /api/leads` (`X-Api-Key` or `Authorization: Bearer`). The key is in "
        "this response only; the server keeps just its SHA-256."
    ),
)
async def issue_api_key(body: ApiKeyRequest, user: Admin, found: ServicesDep) -> dict[str, Any]:
    issued = await run_in_threadpool(
        lambda: found.accounts.issue_api_key(name=body.name, created_by=user.id)
    )
    return issued.view.as_dict() | {"key": issued.key}


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKeyOut,
    summary="Revoke a lead-source API key",
    description="The key stops working at once; revoking twice is harmless.",
)
async def revoke_api_key(key_id: Id, user: Admin, found: ServicesDep) -> dict[str, Any]:
    view = await run_in_threadpool(found.accounts.revoke_api_key, key_id)
    return view.as_dict()
