"""Tests of the lead domain, and the fixtures they share.

``make_lead()`` and ``make_pm()`` build the seed example (a residential lead for 100 units
in Austin, TX 78701 with an email address, from the website, and a PM serving residential
in 78701 for 10-200 units with no caps); keyword arguments override single fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from leadcast.leads import LeadFacts, PMProfile

SEED_LEAD = LeadFacts(
    property_type="residential",
    zip_code="78701",
    city="Austin",
    state="TX",
    number_of_units=100,
    has_email=True,
    has_phone=False,
    source="website",
)

SEED_PM = PMProfile(
    id=1,
    active=True,
    property_types=frozenset({"residential"}),
    service_zips=frozenset({"78701"}),
    min_units=10,
    max_units=200,
    daily_cap=None,
    max_open_leads=None,
    leads_today=0,
    open_leads=0,
    last_assigned_at=None,
)


def make_lead(**changes: Any) -> LeadFacts:
    """Return the seed lead with ``changes`` applied."""
    return replace(SEED_LEAD, **changes)


def make_pm(**changes: Any) -> PMProfile:
    """Return the seed PM with ``changes`` applied."""
    return replace(SEED_PM, **changes)
