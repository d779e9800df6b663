"""Who gets a lead: eligibility, then score-ranked selection with a fair tie-break.

Theory of operation
===================

1. **Eligibility.** A PM is eligible when every check passes, in this order (the first that
   fails is the reason reported by :func:`ineligibility`):

   ======================  =================================================================
   Reason                  Fails when
   ======================  =================================================================
   inactive                the PM is not active
   property type           the lead's property type is not one of the PM's
   outside service area    the lead's ZIP (``ZIP+4`` suffix ignored) is not one of the PM's
   units below minimum     units are known and below ``min_units``
   units above maximum     units are known and above ``max_units``
   daily cap reached       ``leads_today >= daily_cap``
   too many open leads     ``open_leads >= max_open_leads``
   ======================  =================================================================

   A lead without a unit count passes the unit checks: it is the PM's call, not a reason to
   leave the lead unrouted. ``None`` limits mean "no limit"; a cap of 0 takes no leads.

2. **Ranking.** Each eligible PM is scored and the PMs are ranked by score, highest first.
   Ranking only needs the number (:func:`leadcast.leads.scoring.score_points`); the full
   score with its reasons (:func:`leadcast.leads.scoring.score_lead`) is worked out for the
   chosen few only. Equal scores are broken fairly and
   deterministically: fewer ``leads_today`` first, then the PM who waited longest since their
   last lead (never assigned comes first), then the lower id.

3. **Selection.** The first ``max_recipients`` ranked PMs receive the lead.

Never sending one lead twice to one PM is the caller's job (a unique ``(lead, pm)``
distribution row); this module only decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from leadcast.leads.model import DistributionConfig, LeadFacts, Match, PMProfile, zip5
from leadcast.leads.scoring import score_lead, score_points

__all__ = ["Ineligible", "ineligibility", "rank_key", "select_recipients"]


class Ineligible(StrEnum):
    """Why a PM may not receive a lead; members are plain strings too."""

    INACTIVE = "inactive"
    PROPERTY_TYPE = "property type"
    OUTSIDE_SERVICE_AREA = "outside service area"
    UNITS_BELOW_MINIMUM = "units below minimum"
    UNITS_ABOVE_MAXIMUM = "units above maximum"
    DAILY_CAP_REACHED = "daily cap reached"
    TOO_MANY_OPEN_LEADS = "too many open leads"


def ineligibility(lead: LeadFacts, pm: PMProfile) -> str | None:
    """Say why a PM may not receive a lead.

    Args:
        lead: the lead; ``property_type`` normalised.
        pm: the PM; ``property_types`` normalised.

    Returns:
        The first failing check as an :class:`Ineligible` member (a ``str``), or ``None``
        when the PM is eligible.
    """
    units = lead.number_of_units
    if not pm.active:
        return Ineligible.INACTIVE
    if lead.property_type not in pm.property_types:
        return Ineligible.PROPERTY_TYPE
    if zip5(lead.zip_code) not in pm.service_zips:
        return Ineligible.OUTSIDE_SERVICE_AREA
    if units is not None and pm.min_units is not None and units < pm.min_units:
        return Ineligible.UNITS_BELOW_MINIMUM
    if units is not None and pm.max_units is not None and units > pm.max_units:
        return Ineligible.UNITS_ABOVE_MAXIMUM
    if pm.daily_cap is not None and pm.leads_today >= pm.daily_cap:
        return Ineligible.DAILY_CAP_REACHED
    if pm.max_open_leads is not None and pm.open_leads >= pm.max_open_leads:
        return Ineligible.TOO_MANY_OPEN_LEADS
    return None


_NEVER = datetime.min


def rank_key(match: Match) -> tuple[int, int, bool, datetime, int]:
    """Sort key putting the best match first.

    Higher score first; then fewer leads today; then least recently assigned (never
    assigned first); then lower PM id. All ``last_assigned_at`` values should be either
    timezone-aware or naive, as with any datetime comparison.

    Args:
        match: a scored PM.

    Returns:
        A key for :func:`sorted`.
    """
    return (-match.score.score, *_fairness(match.pm))


def select_recipients(
    lead: LeadFacts, pms: Iterable[PMProfile], config: DistributionConfig
) -> list[Match]:
    """Choose who receives a lead.

    Args:
        lead: the lead; ``property_type`` normalised.
        pms: candidate PMs, in any order.
        config: how many recipients and how to score.

    Returns:
        At most ``config.max_recipients`` eligible PMs with their scores, best first.

    Raises:
        ValueError: when ``config`` is invalid.
    """
    config.check()
    scoring = config.scoring
    eligible = {pm.id: pm for pm in pms if ineligibility(lead, pm) is None}
    ranked = sorted((-score_points(lead, pm, scoring), *_fairness(pm)) for pm in eligible.values())[
        : config.max_recipients
    ]
    return [
        Match(pm, score_lead(lead, pm, scoring)) for pm in (eligible[key[-1]] for key in ranked)
    ]


def _fairness(pm: PMProfile) -> tuple[int, bool, datetime, int]:
    """The tie-break after the score: see :func:`rank_key`."""
    last = pm.last_assigned_at
    return (pm.leads_today, last is not None, last or _NEVER, pm.id)
