"""The lead domain: matching, explainable scores, notifications and the broadcast payload.

Pure code: no I/O, no database, no clock. The service layer loads :class:`PMProfile` and
:class:`LeadFacts` values, calls :func:`select_recipients`, and stores and publishes what
comes back (:func:`notification_for`, :func:`lead_payload`).
"""

from leadcast.leads.matching import Ineligible, ineligibility, rank_key, select_recipients
from leadcast.leads.model import (
    PROPERTY_TYPES,
    Badge,
    DistributionConfig,
    LeadFacts,
    Match,
    Notification,
    PMProfile,
    PropertyType,
    Reason,
    Score,
    ScoringConfig,
    Tier,
    normalise_property_type,
    zip5,
)
from leadcast.leads.notifications import format_timestamp, lead_payload, notification_for
from leadcast.leads.scoring import (
    DEFAULT_SCORING,
    MATCHES_PROPERTY_TYPE,
    TARGET_SERVICE_AREA,
    badge_for,
    score_lead,
    score_points,
    tier_for,
)

__all__ = [
    "DEFAULT_SCORING",
    "MATCHES_PROPERTY_TYPE",
    "PROPERTY_TYPES",
    "TARGET_SERVICE_AREA",
    "Badge",
    "DistributionConfig",
    "Ineligible",
    "LeadFacts",
    "Match",
    "Notification",
    "PMProfile",
    "PropertyType",
    "Reason",
    "Score",
    "ScoringConfig",
    "Tier",
    "badge_for",
    "format_timestamp",
    "ineligibility",
    "lead_payload",
    "normalise_property_type",
    "notification_for",
    "rank_key",
    "score_lead",
    "score_points",
    "select_recipients",
    "tier_for",
    "zip5",
]
