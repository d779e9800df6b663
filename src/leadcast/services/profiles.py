"""Account values: roles, users, PM preferences (with their rules), API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from leadcast.leads.model import PROPERTY_TYPES, normalise_property_type
from leadcast.leads.notifications import format_timestamp
from leadcast.services.errors import InvalidInput

__all__ = [
    "ApiKeyView",
    "IssuedApiKey",
    "LoginResult",
    "PMView",
    "Preferences",
    "Role",
    "UserView",
    "check_email",
    "leads_today",
]

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
ZIP5 = re.compile(r"^\d{5}$")
MAX_UNITS = 1_000_000
MAX_ZIPS = 5_000


class Role(StrEnum):
    PM = "pm"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    email: str
    name: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "created_at": format_timestamp(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a PM takes. ``None`` limits mean no limit; see :meth:`checked` for the rules."""

    active: bool = True
    property_types: tuple[str, ...] = ()
    service_zips: tuple[str, ...] = ()
    min_units: int | None = None
    max_units: int | None = None
    daily_cap: int | None = None
    max_open_leads: int | None = None

    def checked(self) -> Preferences:
        """Normalised (canonical property types, sorted ZIPs) and validated.

        Raises:
            InvalidInput: naming every invalid field.
        """
        problems: dict[str, str] = {}
        types: set[str] = set()
        for raw in self.property_types:
            canonical = normalise_property_type(raw) if len(raw) <= 40 else None
            if canonical is None:
                known = ", ".join(sorted(PROPERTY_TYPES))
                problems["property_types"] = f"unknown property type {raw[:40]!r} (known: {known})"
            else:
                types.add(canonical)
        zips = {z.strip() for z in self.service_zips}
        if len(zips) > MAX_ZIPS:
            problems["service_zips"] = f"at most {MAX_ZIPS} ZIP codes"
        elif bad := sorted(z for z in zips if not ZIP5.match(z)):
            problems["service_zips"] = f"not a five-digit ZIP code: {bad[0][:12]!r}"
        for name in ("min_units", "max_units", "daily_cap", "max_open_leads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not 0 <= value <= MAX_UNITS):
                problems[name] = f"must be a whole number from 0 to {MAX_UNITS}"
        low, high = self.min_units, self.max_units
        units_given = "min_units" not in problems and "max_units" not in problems
        if units_given and low is not None and high is not None and low > high:
            problems["max_units"] = "must not be below min_units"
        if problems:
            raise InvalidInput(problems)
        return replace(self, property_types=tuple(sorted(types)), service_zips=tuple(sorted(zips)))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "property_types": list(self.property_types),
            "service_zips": list(self.service_zips),
        }


@dataclass(frozen=True, slots=True)
class PMView:
    user: UserView
    preferences: Preferences
    leads_today: int
    open_leads: int
    last_assigned_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        last = self.last_assigned_at
        return self.user.as_dict() | {
            "preferences": self.preferences.as_dict(),
            "stats": {
                "leads_today": self.leads_today,
                "open_leads": self.open_leads,
                "last_assigned_at": format_timestamp(last) if last else None,
            },
        }


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: UserView
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        revoked = self.revoked_at
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": format_timestamp(self.created_at),
            "revoked_at": format_timestamp(revoked) if revoked else None,
        }


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key; ``key`` is shown this once and stored only as a hash."""

    key: str
    view: ApiKeyView


def check_email(email: str) -> str:
    normalised = email.strip().lower()
    if len(normalised) > 254 or not EMAIL.match(normalised):
        raise InvalidInput({"email": "must be an email address (at most 254 characters)"})
    return normalised


def leads_today(count: int, counted_on: date | None, today: date) -> int:
    """The day counter, which restarts at 0 on a new (UTC) day."""
    return count if counted_on == today else 0
