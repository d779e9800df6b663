"""A submitted lead: parsing, validation and the fingerprint idempotency compares.

``LeadInput.parse(mapping)`` accepts the fields of ``POST /api/leads`` (JSON types, or the
strings a form would send), with the aliases ``name`` → ``full_name`` and ``zipcode`` →
``zip_code``, and raises ``InvalidInput`` naming every bad field at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from leadcast.leads.model import PROPERTY_TYPES, LeadFacts, normalise_property_type, zip5
from leadcast.services.errors import InvalidInput

__all__ = ["ALIASES", "FIELD_LIMITS", "LeadInput"]

ALIASES: Mapping[str, str] = {"name": "full_name", "zipcode": "zip_code"}
"""Alternative spellings accepted for fields (Laravel's lead table uses the aliases)."""

FIELD_LIMITS: Mapping[str, int] = {
    "full_name": 200,
    "email": 254,
    "phone": 40,
    "property_type": 40,
    "street_address": 200,
    "city": 100,
    "state": 50,
    "zip_code": 10,
    "source": 50,
    "unique_id": 100,
}
"""Most characters per text field."""

REQUIRED = ("full_name", "property_type", "city", "state", "zip_code")
MAX_UNITS = 1_000_000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]{7,40}$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_UNIQUE_ID = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True, slots=True)
class LeadInput:
    """A valid lead as submitted (property type canonical, text stripped)."""

    full_name: str
    property_type: str
    city: str
    state: str
    zip_code: str
    email: str | None = None
    phone: str | None = None
    street_address: str | None = None
    number_of_units: int | None = None
    source: str | None = None
    unique_id: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> LeadInput:
        """Validate a submission.

        Raises:
            InvalidInput: naming every missing, unknown or malformed field.
        """
        problems: dict[str, str] = {}
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, value in data.items():
            name = ALIASES.get(key, key)
            if name not in known:
                problems[str(key)[:50]] = "unknown field"
            elif name in values:
                problems[name] = f"give {name} or {key}, not both"
            elif value is not None:
                values[name] = value
        for name, value in list(values.items()):
            try:
                values[name] = _clean(name, value)
            except ValueError as error:
                problems[name] = str(error)
                del values[name]
        for name in REQUIRED:
            if values.get(name) is None and name not in problems:
                problems[name] = "is required"
        if problems:
            raise InvalidInput(problems)
        return cls(**values)

    def check(self) -> LeadInput:
        """Validate a lead built in code (``LeadInput(...)``) the way :meth:`parse` does.

        Raises:
            InvalidInput: naming every invalid field.
        """
        return LeadInput.parse({k: v for k, v in asdict(self).items() if v is not None})

    def fingerprint(self) -> str:
        """SHA-256 of the normalised lead: same fingerprint, same submission."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def facts(self) -> LeadFacts:
        """What matching and scoring look at (contact details reduced to booleans)."""
        return LeadFacts(
            property_type=self.property_type,
            zip_code=zip5(self.zip_code),
            city=self.city,
            state=self.state,
            number_of_units=self.number_of_units,
            has_email=self.email is not None,
            has_phone=self.phone is not None,
            source=self.source,
        )


def _clean(name: str, value: Any) -> Any:
    """One field's normalised value, or ``ValueError`` saying what is wrong."""
    if name == "number_of_units":
        return _units(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    limit = FIELD_LIMITS[name]
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if not text:
        if name in REQUIRED:
            raise ValueError("must not be empty")
        return None
    if any(ord(c) < 32 for c in text):
        raise ValueError("must not contain control characters")
    if name == "email":
        if not _EMAIL.match(text):
            raise ValueError("must be an email address")
        return text.lower()
    if name == "phone" and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 7):
        raise ValueError("must be a phone number (digits, spaces, + ( ) . -)")
    if name == "zip_code" and not _ZIP.match(text):
        raise ValueError("must be a ZIP code: 12345 or 12345-6789")
    if name == "unique_id" and not _UNIQUE_ID.match(text):
        raise ValueError("must be printable characters without spaces")
    if name == "property_type":
        canonical = normalise_property_type(text)
        if canonical is None:
            raise ValueError(f"unknown property type (known: {', '.join(sorted(PROPERTY_TYPES))})")
        return canonical
    return text


def _units(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 7:
        value = int(value.strip())
    elif isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not 0 <= value <= MAX_UNITS:
        raise ValueError(f"must be between 0 and {MAX_UNITS}")
    return value
