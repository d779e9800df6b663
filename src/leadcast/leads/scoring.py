"""Explainable lead scores: a points scorecard whose points are the reasons.

Theory of operation
===================

A lead is scored once per property manager (PM). The score starts at ``base_points`` (30)
and every rule below that fires adds or takes away its points. Rules fall into two groups,
and each group's total is capped so that no single dimension dominates:

* **match fit** (is this lead right for *this* PM), capped at ``match_cap`` (35);
* **lead quality** (is this a good lead for anyone), capped at ``quality_cap`` (35).

A cap only limits what a group *adds*; a group's negative total is never lifted. When a cap
bites, the breakdown records a negative ``"… capped at N points"`` entry, so the breakdown
always adds up to the score before clamping. The score is that sum clamped to 0-100::

    score = clamp(base + min(match, match_cap) + min(quality, quality_cap), 0, 100)

Match fit (group "match"):

  Rule       Fires when                                Points  Text
  ---------  ----------------------------------------  ------  -------------------------------------
  type       lead type is one of the PM's types           +10  Matches your preferred property types
             otherwise                                    -20  Not one of your property types
  area       lead ZIP is one of the PM's ZIPs             +10  In your target service area
             otherwise                                    -20  Outside your service area
  units      PM has min and max, units in middle half     +10  Unit count is in the sweet spot of
                                                               your range
             units inside the PM's range otherwise         +5  Unit count is within your range
             units below the PM's minimum                 -10  Fewer units than your minimum
             units above the PM's maximum                 -10  More units than your maximum
             units unknown, or PM has no min nor max        -  (no rule fires)
  capacity   at least half of every cap is left            +5  You have room for more leads
             (daily cap, open leads; none = all left)
             some cap is used up                          -10  You are at your lead limit
             otherwise                                      -  (no rule fires)

Lead quality (group "quality"):

  Rule       Fires when                                Points  Text
  ---------  ----------------------------------------  ------  -------------------------------------
  contact    email and phone                              +10  Email and phone provided
             email only                                    +6  Email provided
             phone only                                    +6  Phone provided
             neither                                      -10  No email or phone
  portfolio  100 units or more                            +20  Large portfolio (100+ units)
             20-99 units                                  +12  Mid-size portfolio (20-99 units)
             5-19 units                                    +6  Portfolio of 5-19 units
             1-4 units                                     +2  Small portfolio (1-4 units)
             unknown or 0                                   -  (no rule fires)
  source     referral                                     +10  Referral lead
             website                                       +5  Submitted through the website
             partner                                       +5  From a partner listing
             anything else, or unknown                      -  (no rule fires)

"Middle half" means ``|units - (min + max) / 2| <= (max - min) / 4``. Sources are compared
case- and punctuation-insensitively; ``"referred"`` counts as referral, ``"web"``,
``"web-form"`` and ``"organic"`` as website.

With the defaults a lead eligible for a PM (type and ZIP match) starts at 50, the seed
example (residential, 100 units, email, website source, PM range around 100, room left)
scores 96, and the maximum is 100.

**Reasons** shown to the PM are the texts of the positive rules, strongest first (ties keep
the table order, match fit before lead quality), at most ``max_reasons`` (4). At least one
is a match-fit ("why it matched you") reason whenever one fired: if the strongest reasons are
all about lead quality, the last one gives way to the strongest match-fit reason. Negative
rules, the base and caps are kept in ``breakdown`` for audit but not shown as reasons.

**Tiers** use absolute thresholds (``ScoringConfig``): excellent at 80 and above, good at 60
and above, fair below, so a tier means the same thing over time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from leadcast.leads.model import (
    Badge,
    LeadFacts,
    PMProfile,
    Reason,
    Score,
    ScoringConfig,
    Tier,
    zip5,
)

__all__ = [
    "DEFAULT_SCORING",
    "MATCHES_PROPERTY_TYPE",
    "TARGET_SERVICE_AREA",
    "badge_for",
    "score_lead",
    "score_points",
    "tier_for",
]

DEFAULT_SCORING: Final = ScoringConfig()
"""The default scoring configuration."""

MATCHES_PROPERTY_TYPE: Final = "Matches your preferred property types"
TARGET_SERVICE_AREA: Final = "In your target service area"

_BASE: Final = "base"
_MATCH: Final = "match"
_QUALITY: Final = "quality"

# Every rule's outcomes, built once (``Reason`` is immutable): scoring runs once per PM.
_TYPE_MATCH: Final = Reason(10, MATCHES_PROPERTY_TYPE, _MATCH)
_TYPE_MISMATCH: Final = Reason(-20, "Not one of your property types", _MATCH)
_AREA_MATCH: Final = Reason(10, TARGET_SERVICE_AREA, _MATCH)
_AREA_MISMATCH: Final = Reason(-20, "Outside your service area", _MATCH)
_UNITS_BELOW: Final = Reason(-10, "Fewer units than your minimum", _MATCH)
_UNITS_ABOVE: Final = Reason(-10, "More units than your maximum", _MATCH)
_UNITS_SWEET: Final = Reason(10, "Unit count is in the sweet spot of your range", _MATCH)
_UNITS_WITHIN: Final = Reason(5, "Unit count is within your range", _MATCH)
_AT_LIMIT: Final = Reason(-10, "You are at your lead limit", _MATCH)
_ROOM: Final = Reason(5, "You have room for more leads", _MATCH)


# -- match fit -------------------------------------------------------------------------


def _property_type(lead: LeadFacts, pm: PMProfile) -> Reason:
    return _TYPE_MATCH if lead.property_type in pm.property_types else _TYPE_MISMATCH


def _service_area(lead: LeadFacts, pm: PMProfile) -> Reason:
    return _AREA_MATCH if zip5(lead.zip_code) in pm.service_zips else _AREA_MISMATCH


def _unit_range(lead: LeadFacts, pm: PMProfile) -> Reason | None:
    units, low, high = lead.number_of_units, pm.min_units, pm.max_units
    if units is None or (low is None and high is None):
        return None
    if low is not None and units < low:
        return _UNITS_BELOW
    if high is not None and units > high:
        return _UNITS_ABOVE
    if low is not None and high is not None and 2 * abs(2 * units - (low + high)) <= high - low:
        return _UNITS_SWEET
    return _UNITS_WITHIN


def _capacity(lead: LeadFacts, pm: PMProfile) -> Reason | None:
    daily, opened = pm.daily_cap, pm.max_open_leads
    if (daily is not None and pm.leads_today >= daily) or (
        opened is not None and pm.open_leads >= opened
    ):
        return _AT_LIMIT
    if (daily is None or 2 * (daily - pm.leads_today) >= daily) and (
        opened is None or 2 * (opened - pm.open_leads) >= opened
    ):
        return _ROOM
    return None


_MATCH_RULES: Final = (_property_type, _service_area, _unit_range, _capacity)


# -- lead quality ----------------------------------------------------------------------

_BOTH: Final = Reason(10, "Email and phone provided", _QUALITY)
_EMAIL: Final = Reason(6, "Email provided", _QUALITY)
_PHONE: Final = Reason(6, "Phone provided", _QUALITY)
_NO_CONTACT: Final = Reason(-10, "No email or phone", _QUALITY)


def _contact(has_email: bool, has_phone: bool) -> Reason:
    if has_email and has_phone:
        return _BOTH
    if has_email:
        return _EMAIL
    if has_phone:
        return _PHONE
    return _NO_CONTACT


# (fewest units, reason), largest bucket first.
_PORTFOLIO: Final = (
    (100, Reason(20, "Large portfolio (100+ units)", _QUALITY)),
    (20, Reason(12, "Mid-size portfolio (20-99 units)", _QUALITY)),
    (5, Reason(6, "Portfolio of 5-19 units", _QUALITY)),
    (1, Reason(2, "Small portfolio (1-4 units)", _QUALITY)),
)


def _portfolio(units: int | None) -> Reason | None:
    if units is not None:
        for least, reason in _PORTFOLIO:
            if units >= least:
                return reason
    return None


_REFERRAL: Final = Reason(10, "Referral lead", _QUALITY)
_WEBSITE: Final = Reason(5, "Submitted through the website", _QUALITY)
# Compact source spelling (lower case, letters and digits only) → reason.
_SOURCES: Final[Mapping[str, Reason]] = {
    "referral": _REFERRAL,
    "referred": _REFERRAL,
    "website": _WEBSITE,
    "web": _WEBSITE,
    "webform": _WEBSITE,
    "organic": _WEBSITE,
    "partner": Reason(5, "From a partner listing", _QUALITY),
}
_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]+")


def _source(source: str | None) -> Reason | None:
    if source is None:
        return None
    return _SOURCES.get(_NOT_ALNUM.sub("", source.lower()))


def _capped(fired: list[Reason], label: str, cap: int, group: str) -> list[Reason]:
    """``fired``, plus the negative "capped" entry when their total is over ``cap``."""
    total = sum(reason.points for reason in fired)
    if total > cap:
        fired.append(Reason(cap - total, f"{label} capped at {cap} points", group))
    return fired


_QualityKey = tuple[bool, bool, int | None, str | None, int]
_QUALITY_MEMO: dict[_QualityKey, tuple[Reason, ...]] = {}
_QUALITY_MEMO_SIZE: Final = 1024


def _quality(
    has_email: bool, has_phone: bool, units: int | None, source: str | None, cap: int
) -> tuple[Reason, ...]:
    """The lead-quality group (with its cap entry): the same for every PM, so it is worked
    out once per lead (memoised) rather than once per PM."""
    key = (has_email, has_phone, units, source, cap)
    found = _QUALITY_MEMO.get(key)
    if found is None:
        fired = [
            reason
            for reason in (_contact(has_email, has_phone), _portfolio(units), _source(source))
            if reason is not None
        ]
        found = tuple(_capped(fired, "Lead quality", cap, _QUALITY))
        if len(_QUALITY_MEMO) >= _QUALITY_MEMO_SIZE:
            _QUALITY_MEMO.clear()
        _QUALITY_MEMO[key] = found
    return found


_QUALITY_POINTS: dict[tuple[Reason, ...], int] = {}


def score_points(lead: LeadFacts, pm: PMProfile, config: ScoringConfig = DEFAULT_SCORING) -> int:
    """Only the 0-100 number :func:`score_lead` would give, without the reasons.

    Ranking needs the number for every candidate but the reasons only for the few chosen, so
    this is the cheap first pass; ``score_points(l, p, c) == score_lead(l, p, c).score``.

    Args:
        lead: the lead.
        pm: the PM it would go to.
        config: thresholds, base points and caps (assumed checked, see ``score_lead``).

    Returns:
        The score.
    """
    match = 0
    for rule in _MATCH_RULES:
        reason = rule(lead, pm)
        if reason is not None:
            match += reason.points
    quality = _quality(
        lead.has_email, lead.has_phone, lead.number_of_units, lead.source, config.quality_cap
    )
    quality_points = _QUALITY_POINTS.get(quality)
    if quality_points is None:
        if len(_QUALITY_POINTS) >= _QUALITY_MEMO_SIZE:
            _QUALITY_POINTS.clear()
        quality_points = _QUALITY_POINTS[quality] = sum(reason.points for reason in quality)
    raw = config.base_points + min(match, config.match_cap) + quality_points
    return min(100, max(0, raw))


def score_lead(lead: LeadFacts, pm: PMProfile, config: ScoringConfig = DEFAULT_SCORING) -> Score:
    """Score a lead for one PM with the rules in the module docstring.

    The PM need not be eligible: a mismatch scores low rather than failing.

    Args:
        lead: the lead.
        pm: the PM it would go to.
        config: thresholds, base points, caps and how many reasons to show.

    Returns:
        The score, tier, badge, reasons and full breakdown.

    Raises:
        ValueError: when ``config`` is invalid.
    """
    config.check()
    match = [reason for rule in _MATCH_RULES if (reason := rule(lead, pm)) is not None]
    breakdown = [
        Reason(config.base_points, "Base score", _BASE),
        *_capped(match, "Match fit", config.match_cap, _MATCH),
        *_quality(
            lead.has_email, lead.has_phone, lead.number_of_units, lead.source, config.quality_cap
        ),
    ]
    raw = sum(reason.points for reason in breakdown)
    score = min(100, max(0, raw))
    tier = tier_for(score, config)
    return Score(
        score=score,
        tier=tier,
        badge=_BADGES[tier],
        reasons=_reasons(breakdown, config.max_reasons),
        breakdown=tuple(breakdown),
    )


def _reasons(breakdown: list[Reason], limit: int) -> tuple[str, ...]:
    """Pick the positive rule texts to show, strongest first, with a match-fit one."""
    positive = [r for r in breakdown if r.points > 0 and r.group != _BASE]
    positive.sort(key=lambda reason: -reason.points)  # stable: ties keep table order
    shown = positive[:limit]
    if not any(r.group == _MATCH for r in shown):
        best_fit = next((r for r in positive if r.group == _MATCH), None)
        if best_fit is not None:
            shown = [*shown[: limit - 1], best_fit]
    return tuple(reason.text for reason in shown)


def tier_for(score: int, config: ScoringConfig) -> Tier:
    """Return the tier of a score.

    Args:
        score: 0-100.
        config: the thresholds.

    Returns:
        ``EXCELLENT`` at ``excellent_at`` and above, ``GOOD`` at ``good_at`` and above,
        ``FAIR`` below.
    """
    if score >= config.excellent_at:
        return Tier.EXCELLENT
    if score >= config.good_at:
        return Tier.GOOD
    return Tier.FAIR


_BADGES: Final[Mapping[Tier, Badge]] = {
    Tier.EXCELLENT: Badge("🔥 High Value", "red", "high"),
    Tier.GOOD: Badge("⭐ Good Match", "green", "medium"),
    Tier.FAIR: Badge("Fair Match", "gray", "low"),
}


def badge_for(tier: Tier) -> Badge:
    """Return the badge shown for a tier.

    Args:
        tier: the tier.

    Returns:
        ``🔥 High Value``/red/high, ``⭐ Good Match``/green/medium or ``Fair Match``/gray/low.
    """
    return _BADGES[tier]
