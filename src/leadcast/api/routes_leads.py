"""Leads: intake from lead sources, the PM's list and detail, status changes."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leadcast.api.deps import PM, Caller, ServicesDep, Submitter, read_json_object
from leadcast.api.schemas import (
    AdminLeadDetail,
    ErrorOut,
    LeadDetail,
    LeadPage,
    LeadSubmission,
    LeadSubmitted,
    StatusChange,
)
from leadcast.leads.model import PROPERTY_TYPES, Tier
from leadcast.services.intake import LeadInput
from leadcast.services.leads import LeadFilter, Status
from leadcast.services.profiles import ApiKeyView

__all__ = ["router"]

router = APIRouter(prefix="/leads", tags=["leads"])
LeadId = Annotated[int, Path(ge=1, le=2**53, description="The lead's id.")]


@router.post(
    "",
    status_code=201,
    response_model=LeadSubmitted,
    summary="Submit a lead",
    description=(
        "Called by lead sources with an API key (`X-Api-Key: lck_…` or "
        "`Authorization: Bearer lck_…`) or by an admin's token. The lead is matched to "
        "property managers, scored for each, and `lead.distributed` is broadcast to each "
        "recipient's `private-property-manager.{id}` channel.\n\n"
        "Idempotent: a repeat with the same `unique_id` or `Idempotency-Key` header and the "
        "same payload returns the stored lead with **200** and distributes nothing; the same "
        "key with a different payload is **409**. Keys are the submitter's own: each API "
        "key's, and the admins' together. Invalid input is **422** with `fields` "
        "naming each problem; malformed JSON is 400; nothing is written in either case."
    ),
    responses={
        200: {"model": LeadSubmitted, "description": "An idempotent repeat."},
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        409: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LeadSubmission.model_json_schema()}},
        }
    },
)
async def submit_lead(
    request: Request,
    submitter: Submitter,
    found: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Makes retries safe: same key and payload, same lead.",
        ),
    ] = None,
) -> JSONResponse:
    data = await read_json_object(request)
    lead = LeadInput.parse(data)
    api_key_id = submitter.id if isinstance(submitter, ApiKeyView) else None
    result = await anyio.to_thread.run_sync(
        lambda: found.distributor.submit(
            lead, idempotency_key=idempotency_key, api_key_id=api_key_id
        ),
        limiter=found.submit_limiter,
    )
    return JSONResponse(result.as_dict(), status_code=201 if result.created else 200)


@router.get(
    "",
    response_model=LeadPage,
    summary="List leads",
    description=(
        "For a property manager: the leads distributed to them, newest first, with status "
        "and score; filter by `status`, `tier`, `property_type` and a `search` over name, "
        "address, city and ZIP. For an admin: every lead, with the same filters (`status` "
        "and `tier` keep leads with at least one distribution in that status and of that "
        "tier). `property_type` is spelt as at intake (`Apartments` is `multifamily`); an "
        "unknown status, tier or property type is 422 naming the parameter. Contact details "
        "are only in the detail view."
    ),
)
async def list_leads(
    user: Caller,
    found: ServicesDep,
    status: Annotated[Status | None, Query(description="Only leads in this status.")] = None,
    tier: Annotated[Tier | None, Query(description="Only leads of this score tier.")] = None,
    property_type: Annotated[
        str | None,
        Query(
            max_length=40,
            description=(
                f"Only leads of this type: one of {', '.join(sorted(PROPERTY_TYPES))}, spelt "
                "any way intake accepts (`Apartments`, `Single Family`); unknown is 422."
            ),
        ),
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=100, description="Part of the name, street address, city or ZIP."),
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    filters = LeadFilter(
        status=None if status is None else status.value,
        tier=None if tier is None else tier.value,
        property_type=property_type,
        search=search,
    )
    if user.is_admin:
        return await run_in_threadpool(
            lambda: found.leads.admin_list(filters, page=page, per_page=per_page)
        )
    return await run_in_threadpool(
        lambda: found.leads.list_for_pm(user.id, filters, page=page, per_page=per_page)
    )


@router.get(
    "/{lead_id}",
    response_model=LeadDetail | AdminLeadDetail,
    summary="One lead",
    description=(
        "A property manager sees a lead distributed to them, with the contact details, the "
        "full score breakdown and the allowed next statuses; opening it marks a `new` lead "
        "`viewed`. Other leads are 404. An admin sees any lead and its distributions."
    ),
    responses={404: {"model": ErrorOut}},
)
async def get_lead(lead_id: LeadId, user: Caller, found: ServicesDep) -> dict[str, Any]:
    if user.is_admin:
        return await run_in_threadpool(found.leads.admin_detail, lead_id)
    return await run_in_threadpool(found.leads.detail, user.id, lead_id)


@router.post(
    "/{lead_id}/status",
    response_model=LeadDetail,
    summary="Change a lead's status",
    description=(
        "new → viewed → accepted/declined → contacted → won/lost (new may go straight to "
        "accepted or declined). Any other change is 409 naming the allowed ones."
    ),
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def change_status(
    lead_id: LeadId, body: StatusChange, user: PM, found: ServicesDep
) -> dict[str, Any]:
    return await run_in_threadpool(found.leads.change_status, user.id, lead_id, body.status)
