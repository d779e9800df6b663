"""Request and response shapes of the HTTP API (pydantic), which also document it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from leadcast.leads.model import PROPERTY_TYPES, Tier
from leadcast.services.intake import ALIASES
from leadcast.services.leads import Status

__all__ = [
    "AdminDistribution",
    "AdminLeadDetail",
    "AdminLeadItem",
    "AlertSettingsIn",
    "AlertSettingsOut",
    "ApiKeyIssued",
    "ApiKeyOut",
    "ApiKeyRequest",
    "BroadcastAuthOut",
    "ErrorOut",
    "LeadDetail",
    "LeadItem",
    "LeadPage",
    "LeadSubmission",
    "LeadSubmitted",
    "LoginOut",
    "LoginRequest",
    "NotificationOut",
    "NotificationPage",
    "PMCreate",
    "PMList",
    "PMOut",
    "PMUpdate",
    "PreferencesIn",
    "RealtimeConfigOut",
    "StatusChange",
    "UnreadCountOut",
    "UpdatedCountOut",
    "UserAuthOut",
    "UserOut",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, in words.")
    fields: dict[str, str] | None = Field(
        default=None, description="For 422: each invalid field and what is wrong with it."
    )


class AlertSettingsOut(BaseModel):
    sound: bool = Field(description="Play a tone for excellent-tier leads.")
    toast_min_tier: Literal["excellent", "good", "fair"] = Field(
        description="The lowest tier that pops a toast; `fair` shows every lead."
    )
    desktop_notifications: bool = Field(description="OS notifications while the tab is hidden.")


class AlertSettingsIn(_Strict):
    model_config = ConfigDict(extra="forbid", strict=True)

    sound: bool | None = None
    toast_min_tier: Literal["excellent", "good", "fair"] | None = None
    desktop_notifications: bool | None = None


class LoginRequest(_Strict):
    email: str = Field(max_length=254, examples=["avery@leadcast.test"])
    password: str = Field(max_length=256, examples=["leadcast-demo"])


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Literal["pm", "admin"]
    created_at: str


class LoginOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: str
    user: UserOut


class PreferencesIn(_Strict):
    """Any subset of a PM's preferences; omitted fields keep their value, ``null`` = no limit."""

    active: bool | None = Field(default=None, description="Whether the PM takes leads.")
    property_types: list[str] | None = Field(
        default=None, max_length=20, examples=[["residential", "multifamily"]]
    )
    service_zips: list[str] | None = Field(
        default=None, max_length=5000, description="Five-digit ZIP codes.", examples=[["78701"]]
    )
    min_units: int | None = Field(default=None, ge=0, le=1_000_000)
    max_units: int | None = Field(default=None, ge=0, le=1_000_000)
    daily_cap: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Most leads per UTC day."
    )
    max_open_leads: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Most leads new or viewed at once."
    )


class PreferencesOut(BaseModel):
    active: bool
    property_types: list[str]
    service_zips: list[str]
    min_units: int | None
    max_units: int | None
    daily_cap: int | None
    max_open_leads: int | None


class PMStats(BaseModel):
    leads_today: int
    open_leads: int
    last_assigned_at: str | None


class PMOut(UserOut):
    preferences: PreferencesOut
    stats: PMStats


class PMList(BaseModel):
    items: list[PMOut]
    total: int


class PMCreate(_Strict):
    email: str = Field(max_length=254)
    password: str = Field(min_length=8, max_length=256)
    name: str | None = Field(default=None, max_length=200)
    preferences: PreferencesIn | None = None


class PMUpdate(_Strict):
    name: str | None = Field(default=None, max_length=200)
    preferences: PreferencesIn | None = None


class ApiKeyRequest(_Strict):
    name: str = Field(min_length=1, max_length=100, examples=["Website form"])


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: str
    revoked_at: str | None


class ApiKeyIssued(ApiKeyOut):
    key: str = Field(description="The key itself: shown only now, stored only as a hash.")


def _document_aliases(schema: dict[str, Any]) -> None:
    """Add intake's alternative spellings (``ALIASES``) to the lead's JSON schema: each is a
    property like the field it stands for, and exactly one of the two is required."""
    properties, required = schema["properties"], schema["required"]
    exactly_one: list[dict[str, Any]] = []
    for alias, field in ALIASES.items():
        properties[alias] = properties[field] | {
            "title": alias.title(),
            "description": f"Alias of `{field}`: give one of the two, not both.",
        }
        required.remove(field)
        exactly_one.append({"oneOf": [{"required": [field]}, {"required": [alias]}]})
    schema["allOf"] = exactly_one


class LeadSubmission(BaseModel):
    """A lead from a lead source. Unknown fields are rejected (422 naming them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_aliases)

    full_name: str = Field(max_length=200, description="Alias: `name`.", examples=["John Doe"])
    email: str | None = Field(default=None, max_length=254, examples=["test@websocket.com"])
    phone: str | None = Field(default=None, max_length=40, examples=["+1 512 555 0100"])
    property_type: str = Field(
        max_length=40,
        description=(
            f"One of {', '.join(sorted(PROPERTY_TYPES))}, as people write them: case, spaces, "
            "hyphens and a plural s are ignored, and common names are understood "
            "(`Apartments` is multifamily, `SFR` single-family, `Condominium` condo)."
        ),
        examples=["residential"],
    )
    street_address: str | None = Field(default=None, max_length=200, examples=["123 Main St"])
    city: str = Field(max_length=100, examples=["Austin"])
    state: str = Field(max_length=50, examples=["TX"])
    zip_code: str = Field(
        max_length=10, description="12345 or 12345-6789. Alias: `zipcode`.", examples=["78701"]
    )
    number_of_units: int | None = Field(default=None, ge=0, le=1_000_000, examples=[100])
    source: str | None = Field(default=None, max_length=50, examples=["website"])
    unique_id: str | None = Field(
        default=None,
        max_length=100,
        description="The source's own id: a repeat returns the stored lead, nothing new.",
        examples=["TEST-6543f1"],
    )


class LeadSubmitted(BaseModel):
    id: int
    unique_id: str | None
    created_at: str
    recipients: int = Field(description="How many property managers received it.")
    status: Literal["distributed", "unmatched"]
    idempotent_replay: bool = Field(description="True when this was a repeat (HTTP 200).")


class Badge(BaseModel):
    text: str
    color: str
    priority: str


class ScoreOut(BaseModel):
    score: int = Field(ge=0, le=100)
    tier: Literal["excellent", "good", "fair"]
    badge: Badge
    reasons: list[str]


# Response models list their fields in the order the services build them, so a response
# is byte for byte what it was before it was typed (the dashboard's src/api.ts types).


class LeadItem(BaseModel):
    """A lead as a property manager's list shows it (no contact details)."""

    id: int
    property_type: str
    street_address: str | None
    city: str
    state: str
    zip_code: str
    number_of_units: int | None
    full_name: str
    created_at: str
    user_lead_id: int = Field(description="The distribution's id.")
    status: Status
    score: ScoreOut
    viewed_at: str | None
    updated_at: str


_SCORE_LINE: JsonDict = {
    "type": "object",
    "properties": {
        "points": {"type": "integer", "description": "What the rule added (or took away)."},
        "text": {"type": "string"},
        "group": {"type": "string", "examples": ["base", "match", "quality"]},
    },
    "required": ["points", "text", "group"],
}


class LeadDetail(LeadItem):
    """A lead distributed to the property manager, with contact details."""

    email: str | None
    phone: str | None
    source: str | None
    # Passed through as stored: PostgreSQL (JSONB) orders each line's keys its own way.
    score_breakdown: list[dict[str, Any]] = Field(
        description="Every scoring rule that fired.", json_schema_extra={"items": _SCORE_LINE}
    )
    responded_at: str | None
    contacted_at: str | None
    closed_at: str | None
    allowed_transitions: list[Status] = Field(description="The statuses it may move to now.")


class AdminLeadItem(BaseModel):
    """A lead as an admin's list shows it."""

    id: int
    unique_id: str | None
    property_type: str
    street_address: str | None
    city: str
    state: str
    zip_code: str
    number_of_units: int | None
    full_name: str
    source: str | None
    recipients: int = Field(description="How many property managers received it.")
    created_at: str


class AdminDistribution(BaseModel):
    user_lead_id: int = Field(description="The distribution's id.")
    pm_id: int
    score: int = Field(ge=0, le=100)
    tier: Tier
    status: Status
    reasons: list[str]


class AdminLeadDetail(AdminLeadItem):
    """Any lead, with contact details and every distribution, best score first (admins)."""

    email: str | None
    phone: str | None
    distributions: list[AdminDistribution]


class LeadPage(BaseModel):
    items: list[LeadItem | AdminLeadItem] = Field(
        description="A property manager's leads (`LeadItem`), or for an admin every lead "
        "(`AdminLeadItem`)."
    )
    page: int
    per_page: int
    total: int


class StatusChange(_Strict):
    status: Literal["viewed", "accepted", "declined", "contacted", "won", "lost"]


class NotificationOut(BaseModel):
    id: int
    lead_id: int
    user_lead_id: int
    tier: Tier
    title: str
    message: str
    priority: str
    payload: dict[str, Any] = Field(description="The `lead.distributed` event as broadcast.")
    created_at: str
    seen_at: str | None
    read_at: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(
        description="Pass as `before` (keeping `after`, if any) for the next, older page; "
        "null on the last page."
    )
    unread_count: int
    unseen_count: int


class UnreadCountOut(BaseModel):
    unread_count: int
    unseen_count: int


class UpdatedCountOut(BaseModel):
    updated: int


class BroadcastAuthOut(BaseModel):
    auth: str = Field(description="`key:signature` for the subscription.")


class UserAuthOut(BaseModel):
    auth: str
    user_data: str


class RealtimeConfigOut(BaseModel):
    enabled: bool = Field(description="False when the server broadcasts nowhere (log/null).")
    key: str
    cluster: str
    wsHost: str | None
    wsPort: int | None
    wssPort: int | None
    forceTLS: bool
    enabledTransports: list[str]
    authEndpoint: str
    userAuthEndpoint: str
    channelPrefix: str
    event: str
