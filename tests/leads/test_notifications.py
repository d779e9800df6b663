"""Notifications, the `lead.distributed` payload, property types and the package surface."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import leadcast.leads
from leadcast.leads import (
    PROPERTY_TYPES,
    Notification,
    Tier,
    lead_payload,
    matching,
    model,
    normalise_property_type,
    notification_for,
    notifications,
    score_lead,
    scoring,
)
from leadcast.leads.notifications import format_timestamp
from tests.leads import SEED_LEAD, SEED_PM, make_lead

# -- notifications ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "title", "priority"),
    [
        (Tier.EXCELLENT, "🔥 High-Value Lead!", "high"),
        (Tier.GOOD, "New Lead Match", "medium"),
        (Tier.FAIR, "New Lead", "low"),
    ],
)
def test_notification_per_tier(tier: Tier, title: str, priority: str) -> None:
    notification = notification_for(SEED_LEAD, tier)

    assert notification == Notification(title, "New residential property in Austin, TX", priority)
    assert notification.as_payload() == {
        "title": title,
        "message": "New residential property in Austin, TX",
        "priority": priority,
    }


def test_notification_message_uses_the_lead() -> None:
    lead = make_lead(property_type="multifamily", city="Round Rock", state="TX")

    assert notification_for(lead, Tier.GOOD).message == "New multifamily property in Round Rock, TX"


# -- the broadcast payload -------------------------------------------------------------


def seed_payload(**changes: Any) -> dict[str, Any]:
    score = score_lead(SEED_LEAD, SEED_PM)
    arguments: dict[str, Any] = {
        "lead_id": 15,
        "distribution_id": 123,
        "property_type": "residential",
        "street_address": "123 Main St",
        "city": "Austin",
        "state": "TX",
        "zip_code": "78701",
        "number_of_units": 100,
        "full_name": "John Doe",
        "created_at": datetime(2024, 11, 4, 10, 30, tzinfo=UTC),
        "status": "new",
        "score": score,
        "notification": notification_for(SEED_LEAD, score.tier),
        "notification_id": 7,
    }
    arguments.update(changes)
    return lead_payload(**arguments)


def test_payload_is_exactly_the_seed_shape() -> None:
    assert seed_payload() == {
        "lead": {
            "id": 15,
            "user_lead_id": 123,
            "property_type": "residential",
            "street_address": "123 Main St",
            "city": "Austin",
            "state": "TX",
            "zip_code": "78701",
            "number_of_units": 100,
            "full_name": "John Doe",
            "created_at": "2024-11-04T10:30:00.000000Z",
            "status": "new",
        },
        "score": {
            "score": 96,
            "tier": "excellent",
            "badge": {"text": "🔥 High Value", "color": "red", "priority": "high"},
            "reasons": [
                "Large portfolio (100+ units)",
                "Matches your preferred property types",
                "In your target service area",
                "Unit count is in the sweet spot of your range",
            ],
        },
        "notification": {
            "title": "🔥 High-Value Lead!",
            "message": "New residential property in Austin, TX",
            "priority": "high",
        },
        "notification_id": 7,
    }


def test_payload_with_missing_optional_fields() -> None:
    payload = seed_payload(street_address=None, number_of_units=None)

    assert payload["lead"]["street_address"] is None
    assert payload["lead"]["number_of_units"] is None


def keys(value: Any) -> Iterator[str]:
    """Every dict key at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def test_payload_never_carries_contact_details() -> None:
    payload = seed_payload()
    all_keys = set(keys(payload))
    text = json.dumps(payload)

    assert not {key for key in all_keys if "email" in key or "phone" in key}
    assert "@" not in text


def test_payload_has_no_contact_parameters() -> None:
    with pytest.raises(TypeError):
        seed_payload(email="john@example.com")
    with pytest.raises(TypeError):
        seed_payload(phone="+1 512 555 0100")


def test_payload_is_json_ready() -> None:
    payload = seed_payload()

    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload
    assert type(payload["score"]["tier"]) is str


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 11, 4, 10, 30, tzinfo=UTC), "2024-11-04T10:30:00.000000Z"),
        (datetime(2024, 11, 4, 10, 30), "2024-11-04T10:30:00.000000Z"),
        (datetime(2024, 11, 4, 10, 30, 5, 120), "2024-11-04T10:30:05.000120Z"),
        (
            datetime(2024, 11, 4, 4, 30, tzinfo=timezone(timedelta(hours=-6))),
            "2024-11-04T10:30:00.000000Z",
        ),
        (
            datetime(2024, 11, 4, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-1))),
            "2024-11-05T00:59:59.999999Z",
        ),
    ],
)
def test_created_at_format(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text
    assert seed_payload(created_at=moment)["lead"]["created_at"] == text


# -- property types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("residential", "residential"),
        ("Residential", "residential"),
        ("  RESIDENTIAL  ", "residential"),
        ("multifamily", "multifamily"),
        ("multi-family", "multifamily"),
        ("Multi Family", "multifamily"),
        ("multi_family", "multifamily"),
        ("Multi-Unit", "multifamily"),
        ("Apartments", "multifamily"),
        ("apartment building", "multifamily"),
        ("single family", "single-family"),
        ("Single-Family Home", "single-family"),
        ("SFR", "single-family"),
        ("condo", "condo"),
        ("Condos", "condo"),
        ("Condominiums", "condo"),
        ("HOA", "hoa"),
        ("HOAs", "hoa"),
        ("Homeowners' Association", "hoa"),
        ("homeowner association", "hoa"),
        ("Community Association", "hoa"),
        ("commercial", "commercial"),
        ("Office", "office"),
        ("retail", "retail"),
        ("Industrial", "industrial"),
        ("warehouse", "industrial"),
        ("mixed-use", "mixed-use"),
        ("Mixed Use", "mixed-use"),
        ("MIXED_USE", "mixed-use"),
        ("vacation rental", "vacation-rental"),
        ("Short-Term Rental", "vacation-rental"),
        ("castle", None),
        ("", None),
        ("   ", None),
        ("s", None),
        ("residentialz", None),
        ("multi", None),
    ],
)
def test_normalise_property_type(raw: str, expected: str | None) -> None:
    assert normalise_property_type(raw) == expected


@pytest.mark.parametrize("canonical", sorted(PROPERTY_TYPES))
def test_canonical_types_normalise_to_themselves(canonical: str) -> None:
    assert canonical == canonical.lower()
    assert normalise_property_type(canonical) == canonical


def test_spec_property_types_exist() -> None:
    spec = {"residential", "commercial", "multifamily", "hoa", "industrial", "mixed-use"}

    assert spec <= PROPERTY_TYPES


def test_notifications_module_exports_normalisation() -> None:
    assert notifications.normalise_property_type is normalise_property_type


# -- package surface -------------------------------------------------------------------

MODULES = [leadcast.leads, model, scoring, matching, notifications]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_names_resolve(module: Any) -> None:
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name


def test_package_exports_every_public_name_of_its_modules() -> None:
    exported = set(leadcast.leads.__all__)

    for module in MODULES[1:]:
        assert set(module.__all__) <= exported, module.__name__


ALLOWED_IMPORTS = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "datetime",
    "enum",
    "re",
    "typing",
}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_domain_is_pure(module: Any) -> None:
    """Standard library only, nothing that does I/O, and no clock reads."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"now", "utcnow", "today", "time"}, node.attr
            continue
        for name in names:
            assert name in ALLOWED_IMPORTS or name.startswith("leadcast.leads"), name
