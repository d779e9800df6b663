"""What a PM is told about a distributed lead: the notification and the broadcast payload.

The ``lead.distributed`` event on ``private-property-manager.{pmId}`` carries exactly the
seed's payload plus the inbox notification's id::

    {
      "lead": {"id", "user_lead_id", "property_type", "street_address", "city", "state",
               "zip_code", "number_of_units", "full_name", "created_at", "status"},
      "score": {"score", "tier", "badge": {"text", "color", "priority"}, "reasons"},
      "notification": {"title", "message", "priority"},
      "notification_id": int
    }

The lead's email address and phone number are never part of it: :func:`lead_payload` does
not even take them. ``user_lead_id`` is the distribution id (one per lead × PM), which is
also the natural idempotency key for the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from leadcast.leads.model import LeadFacts, Notification, Score, Tier, normalise_property_type

__all__ = ["format_timestamp", "lead_payload", "normalise_property_type", "notification_for"]

# tier → (title, priority)
_NOTIFICATIONS: Final[Mapping[Tier, tuple[str, str]]] = {
    Tier.EXCELLENT: ("🔥 High-Value Lead!", "high"),
    Tier.GOOD: ("New Lead Match", "medium"),
    Tier.FAIR: ("New Lead", "low"),
}


def notification_for(lead: LeadFacts, tier: Tier) -> Notification:
    """Build the notification for a lead in a tier.

    Args:
        lead: the lead.
        tier: the lead's tier for the receiving PM.

    Returns:
        E.g. ``Notification("🔥 High-Value Lead!", "New residential property in Austin, TX",
        "high")``.
    """
    title, priority = _NOTIFICATIONS[tier]
    message = f"New {lead.property_type} property in {lead.city}, {lead.state}"
    return Notification(title=title, message=message, priority=priority)


def format_timestamp(moment: datetime) -> str:
    """Format a time the way Laravel serialises dates: ``2024-11-04T10:30:00.000000Z``.

    Args:
        moment: an aware datetime (converted to UTC) or a naive one (taken as UTC).

    Returns:
        The UTC time with microseconds and a ``Z`` suffix.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lead_payload(
    *,
    lead_id: int,
    distribution_id: int,
    property_type: str,
    street_address: str | None,
    city: str,
    state: str,
    zip_code: str,
    number_of_units: int | None,
    full_name: str,
    created_at: datetime,
    status: str,
    score: Score,
    notification: Notification,
    notification_id: int,
) -> dict[str, Any]:
    """Build the ``lead.distributed`` broadcast payload.

    Args:
        lead_id: the lead's id.
        distribution_id: the distribution's id, sent as ``user_lead_id``.
        property_type: normalised property type.
        street_address: street address, if given.
        city: city.
        state: state.
        zip_code: ZIP code.
        number_of_units: unit count, if given.
        full_name: the lead's name.
        created_at: when the lead was created (see :func:`format_timestamp`).
        status: the distribution's status, e.g. ``"new"``.
        score: the lead's score for the receiving PM.
        notification: the receiving PM's notification.
        notification_id: the inbox notification's id.

    Returns:
        The JSON-ready payload; it never contains an email address or phone number.
    """
    return {
        "lead": {
            "id": lead_id,
            "user_lead_id": distribution_id,
            "property_type": property_type,
            "street_address": street_address,
            "city": city,
            "state": state,
            "zip_code": zip_code,
            "number_of_units": number_of_units,
            "full_name": full_name,
            "created_at": format_timestamp(created_at),
            "status": status,
        },
        "score": score.as_payload(),
        "notification": notification.as_payload(),
        "notification_id": notification_id,
    }
