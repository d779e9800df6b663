"""The notification inbox of the logged-in property manager."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from leadcast.api.deps import PM, ServicesDep
from leadcast.api.schemas import (
    ErrorOut,
    NotificationOut,
    NotificationPage,
    UnreadCountOut,
    UpdatedCountOut,
)
from leadcast.leads.model import Tier

__all__ = ["router"]

router = APIRouter(prefix="/notifications", tags=["notifications"])
Cursor = Annotated[int | None, Query(ge=0, le=2**53)]


@router.get(
    "",
    response_model=NotificationPage,
    summary="List notifications",
    description=(
        "Newest first, cleared ones excluded. `read=false` for unread only, `tier` for one "
        "tier. Page with `before=<next_cursor>`; after a reconnect, catch up with "
        "`after=<newest id you have>`: that returns the newest `limit` items above it, and "
        "when more were missed `next_cursor` is set: keep `after` and add "
        "`before=<next_cursor>` for the next older page of the gap, until `next_cursor` is "
        "null. Every `lead.distributed` event has one, whose `payload` is the event as "
        "broadcast."
    ),
)
async def list_notifications(
    user: PM,
    found: ServicesDep,
    read: bool | None = None,
    tier: Annotated[Tier | None, Query(description="Only notifications of this tier.")] = None,
    before: Cursor = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: found.inbox.list(
            user.id,
            read=read,
            tier=None if tier is None else tier.value,
            before=before,
            after=after,
            limit=limit,
        )
    )


@router.get(
    "/unread-count",
    response_model=UnreadCountOut,
    summary="Unread and unseen counts",
    description="For the bell's badge: unread and unseen notifications not cleared.",
)
async def unread_count(user: PM, found: ServicesDep) -> dict[str, int]:
    return await run_in_threadpool(found.inbox.counts, user.id)


@router.post(
    "/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark one read",
    description="The notification becomes read and seen; marking it again changes nothing.",
    responses={404: {"model": ErrorOut}},
)
async def mark_read(
    notification_id: Annotated[int, Path(ge=1, le=2**53)], user: PM, found: ServicesDep
) -> dict[str, Any]:
    return await run_in_threadpool(found.inbox.mark_read, user.id, notification_id)


@router.post(
    "/read-all",
    response_model=UpdatedCountOut,
    summary="Mark all read",
    description=(
        "Every unread notification becomes read and seen (as marking one read does), so both "
        "counts drop to 0. `updated` is how many were unread."
    ),
)
async def mark_all_read(user: PM, found: ServicesDep) -> dict[str, int]:
    return {"updated": await run_in_threadpool(found.inbox.mark_all_read, user.id)}


@router.post(
    "/seen-all",
    response_model=UpdatedCountOut,
    summary="Mark all seen",
    description="The bell was opened: the unseen count drops to 0; unread ones stay unread.",
)
async def mark_all_seen(user: PM, found: ServicesDep) -> dict[str, int]:
    return {"updated": await run_in_threadpool(found.inbox.mark_all_seen, user.id)}


@router.post(
    "/clear",
    response_model=UpdatedCountOut,
    summary="Clear all",
    description="Every notification leaves the inbox (the leads themselves stay).",
)
async def clear_all(user: PM, found: ServicesDep) -> dict[str, int]:
    return {"updated": await run_in_threadpool(found.inbox.clear_all, user.id)}
