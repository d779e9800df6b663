"""Lead domain values: what matching and scoring read, and what they produce.

Everything here is an immutable value (``@dataclass(frozen=True, slots=True)``). Nothing
does I/O or reads a clock; the service layer loads these from the database, hands them to
:mod:`leadcast.leads.matching` and :mod:`leadcast.leads.scoring`, and stores what comes back.

Property types are normalised lower-case strings (see :func:`normalise_property_type`): both
the lead's ``property_type`` and a PM's ``property_types`` must be normalised before they are
compared, which the functions here do by plain equality.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "PROPERTY_TYPES",
    "Badge",
    "DistributionConfig",
    "LeadFacts",
    "Match",
    "Notification",
    "PMProfile",
    "PropertyType",
    "Reason",
    "Score",
    "ScoringConfig",
    "Tier",
    "normalise_property_type",
    "zip5",
]

PropertyType = str
"""A normalised, lower-case property type, one of :data:`PROPERTY_TYPES`."""

# Compact spelling (lower case, letters and digits only) → canonical property type.
_ALIASES: Mapping[str, str] = {
    "residential": "residential",
    "residence": "residential",
    "singlefamily": "single-family",
    "singlefamilyhome": "single-family",
    "sfr": "single-family",
    "sfh": "single-family",
    "multifamily": "multifamily",
    "multiunit": "multifamily",
    "apartment": "multifamily",
    "apartmentbuilding": "multifamily",
    "condo": "condo",
    "condominium": "condo",
    "hoa": "hoa",
    "homeownersassociation": "hoa",
    "homeownerassociation": "hoa",
    "communityassociation": "hoa",
    "commercial": "commercial",
    "office": "office",
    "retail": "retail",
    "industrial": "industrial",
    "warehouse": "industrial",
    "mixeduse": "mixed-use",
    "vacationrental": "vacation-rental",
    "shorttermrental": "vacation-rental",
    "str": "vacation-rental",
}

PROPERTY_TYPES: frozenset[str] = frozenset(_ALIASES.values())
"""Every canonical property type."""

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_property_type(raw: str) -> str | None:
    """Map a property type as people write it to its canonical form.

    Case, spaces, hyphens, underscores and other punctuation are ignored, and a trailing
    plural ``s`` is dropped, so ``"Residential"``, ``"multi-family"``, ``"Multi Family"`` and
    ``"Apartments"`` all normalise.

    Args:
        raw: the property type as submitted.

    Returns:
        One of :data:`PROPERTY_TYPES`, or ``None`` when the type is not known.
    """
    compact = _NOT_ALNUM.sub("", raw.lower())
    canonical = _ALIASES.get(compact)
    if canonical is None and compact.endswith("s"):
        canonical = _ALIASES.get(compact[:-1])
    return canonical


def zip5(zip_code: str) -> str:
    """Return the five-digit part of a ZIP code (``"78701-1234"`` → ``"78701"``).

    Args:
        zip_code: a ZIP or ZIP+4 code, possibly with surrounding spaces.

    Returns:
        The code without surrounding spaces and without a ``-NNNN`` suffix.
    """
    return zip_code.strip().partition("-")[0]


class Tier(StrEnum):
    """Score tier; the value is the wire spelling."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """The parts of a lead that matching and scoring look at.

    Contact details are reduced to booleans on purpose: the domain never needs (and the
    broadcast must never carry) the email address or phone number themselves.

    Attributes:
        property_type: normalised property type.
        zip_code: five-digit ZIP code (a ``ZIP+4`` suffix is ignored by matching).
        city: city as submitted.
        state: state as submitted.
        number_of_units: unit count, ``None`` when not given.
        has_email: the lead left an email address.
        has_phone: the lead left a phone number.
        source: where the lead came from (``"website"``, ``"referral"`` …), if known.
    """

    property_type: str
    zip_code: str
    city: str
    state: str
    number_of_units: int | None
    has_email: bool
    has_phone: bool
    source: str | None


@dataclass(frozen=True, slots=True)
class PMProfile:
    """A property manager's preferences and current load, as distribution sees them.

    Attributes:
        id: user id of the PM.
        active: the PM takes leads at all.
        property_types: normalised property types the PM manages.
        service_zips: five-digit ZIP codes the PM serves.
        min_units: smallest portfolio the PM takes, ``None`` for no minimum.
        max_units: largest portfolio the PM takes, ``None`` for no maximum.
        daily_cap: most leads per day, ``None`` for no cap.
        max_open_leads: most un-actioned (new/viewed) leads at once, ``None`` for no cap.
        leads_today: leads distributed to the PM today (in the PM's day, counted by the caller).
        open_leads: leads currently new or viewed.
        last_assigned_at: when the PM last received a lead, ``None`` if never.
    """

    id: int
    active: bool
    property_types: frozenset[str]
    service_zips: frozenset[str]
    min_units: int | None
    max_units: int | None
    daily_cap: int | None
    max_open_leads: int | None
    leads_today: int
    open_leads: int
    last_assigned_at: datetime | None


@dataclass(frozen=True, slots=True)
class Badge:
    """Badge shown next to a lead.

    Attributes:
        text: label, e.g. ``"🔥 High Value"``.
        color: colour name for the UI.
        priority: ``"high"``, ``"medium"`` or ``"low"``.
    """

    text: str
    color: str
    priority: str

    def as_payload(self) -> dict[str, str]:
        """Return the wire form ``{"text", "color", "priority"}``."""
        return {"text": self.text, "color": self.color, "priority": self.priority}


@dataclass(frozen=True, slots=True)
class Reason:
    """One scoring rule that fired.

    Attributes:
        points: what the rule added (negative: took away).
        text: the human explanation; for positive rules this is what the PM sees.
        group: ``"base"``, ``"match"`` (fit for this PM) or ``"quality"`` (the lead itself).
    """

    points: int
    text: str
    group: str = ""


@dataclass(frozen=True, slots=True)
class Score:
    """A lead's score for one PM.

    Attributes:
        score: 0-100.
        tier: tier for ``score``.
        badge: badge for ``tier``.
        reasons: texts of the strongest positive rules, strongest first.
        breakdown: every rule that fired with its points, including the base and any group
            cap; the points add up to the score before clamping to 0-100.
    """

    score: int
    tier: Tier
    badge: Badge
    reasons: tuple[str, ...]
    breakdown: tuple[Reason, ...]

    def as_payload(self) -> dict[str, Any]:
        """Return the wire form ``{"score", "tier", "badge", "reasons"}`` of the seed."""
        return {
            "score": self.score,
            "tier": self.tier.value,
            "badge": self.badge.as_payload(),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Scoring thresholds and weights.

    Attributes:
        excellent_at: lowest score in the excellent tier.
        good_at: lowest score in the good tier; below it is fair.
        base_points: points every lead starts with.
        match_cap: most points the match-fit rules may add together.
        quality_cap: most points the lead-quality rules may add together.
        max_reasons: most reason texts shown to a PM.
    """

    excellent_at: int = 80
    good_at: int = 60
    base_points: int = 30
    match_cap: int = 35
    quality_cap: int = 35
    max_reasons: int = 4

    def check(self) -> ScoringConfig:
        """Validate the fields; return ``self``.

        Raises:
            ValueError: when not ``0 <= good_at < excellent_at <= 100``, when a cap is
                negative or when ``max_reasons`` is below 1.
        """
        if not 0 <= self.good_at < self.excellent_at <= 100:
            raise ValueError(
                "scoring thresholds must satisfy 0 <= good_at < excellent_at <= 100, "
                f"got good_at={self.good_at}, excellent_at={self.excellent_at}"
            )
        if self.match_cap < 0 or self.quality_cap < 0:
            raise ValueError("scoring group caps must not be negative")
        if self.max_reasons < 1:
            raise ValueError("max_reasons must be at least 1")
        return self


@dataclass(frozen=True, slots=True)
class DistributionConfig:
    """How a lead is distributed.

    Attributes:
        max_recipients: most PMs one lead goes to.
        scoring: scoring configuration.
    """

    max_recipients: int = 5
    scoring: ScoringConfig = field(default_factory=ScoringConfig)

    def check(self) -> DistributionConfig:
        """Validate the fields; return ``self``.

        Raises:
            ValueError: when ``max_recipients`` is below 1 or the scoring config is invalid.
        """
        if self.max_recipients < 1:
            raise ValueError(f"max_recipients must be at least 1, got {self.max_recipients}")
        self.scoring.check()
        return self


@dataclass(frozen=True, slots=True)
class Notification:
    """The in-app notification for a distributed lead.

    Attributes:
        title: e.g. ``"🔥 High-Value Lead!"``.
        message: e.g. ``"New residential property in Austin, TX"``.
        priority: ``"high"``, ``"medium"`` or ``"low"``.
    """

    title: str
    message: str
    priority: str

    def as_payload(self) -> dict[str, str]:
        """Return the wire form ``{"title", "message", "priority"}``."""
        return {"title": self.title, "message": self.message, "priority": self.priority}


@dataclass(frozen=True, slots=True)
class Match:
    """An eligible PM and the lead's score for them.

    Attributes:
        pm: the PM.
        score: the lead's score for this PM.
    """

    pm: PMProfile
    score: Score
