"""LeadInput.parse: aliases, normalisation, and every field's validation (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from leadcast.services.errors import InvalidInput
from leadcast.services.intake import LeadInput
from tests.support.factories import SEED_LEAD


def test_the_seed_lead_parses_with_its_aliases() -> None:
    lead = LeadInput.parse(SEED_LEAD)
    assert lead.full_name == "John Doe"
    assert lead.zip_code == "78701"
    assert lead.property_type == "residential"
    assert lead.number_of_units == 100
    assert lead.unique_id == "TEST-6543f1"


def test_canonical_names_work_too() -> None:
    data = {k: v for k, v in SEED_LEAD.items() if k not in ("name", "zipcode")}
    lead = LeadInput.parse(data | {"full_name": "John Doe", "zip_code": "78701-1234"})
    assert lead.zip_code == "78701-1234"
    assert lead.facts().zip_code == "78701"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": None}, "full_name", "is required"),
        ({"name": "   "}, "full_name", "must not be empty"),
        ({"name": "x" * 201}, "full_name", "at most 200"),
        ({"name": 42}, "full_name", "must be a string"),
        ({"full_name": "Jane"}, "full_name", "not both"),
        ({"zipcode": "7870"}, "zip_code", "ZIP code"),
        ({"zipcode": "78701-12"}, "zip_code", "ZIP code"),
        ({"zipcode": None}, "zip_code", "is required"),
        ({"email": "not-an-email"}, "email", "email address"),
        ({"email": "a@b.c" + "x" * 260}, "email", "at most 254"),
        ({"phone": "call me"}, "phone", "phone number"),
        ({"phone": "12345"}, "phone", "phone number"),
        ({"property_type": "castle"}, "property_type", "unknown property type"),
        ({"property_type": None}, "property_type", "is required"),
        ({"number_of_units": -1}, "number_of_units", "between 0"),
        ({"number_of_units": 10_000_001}, "number_of_units", "between 0"),
        ({"number_of_units": "many"}, "number_of_units", "whole number"),
        ({"number_of_units": True}, "number_of_units", "whole number"),
        ({"number_of_units": 2.5}, "number_of_units", "whole number"),
        ({"city": "\x00Austin"}, "city", "control characters"),
        ({"city": None}, "city", "is required"),
        ({"state": "x" * 51}, "state", "at most 50"),
        ({"source": "x" * 51}, "source", "at most 50"),
        ({"unique_id": "has space"}, "unique_id", "printable"),
        ({"unique_id": "x" * 101}, "unique_id", "at most 100"),
        ({"street_address": "x" * 201}, "street_address", "at most 200"),
        ({"favourite_colour": "blue"}, "favourite_colour", "unknown field"),
    ],
)
def test_invalid_fields_are_named(changes: dict[str, Any], field: str, message: str) -> None:
    data = {k: v for k, v in (SEED_LEAD | changes).items() if v is not None}
    with pytest.raises(InvalidInput) as caught:
        LeadInput.parse(data)
    assert field in caught.value.fields
    assert message in caught.value.fields[field]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        LeadInput.parse({"email": "nope", "number_of_units": -3})
    assert set(caught.value.fields) == {
        "email",
        "number_of_units",
        "full_name",
        "property_type",
        "city",
        "state",
        "zip_code",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Multi-Family", "multifamily"), ("Apartments", "multifamily"), ("SFR", "single-family")],
)
def test_property_types_are_normalised(raw: str, expected: str) -> None:
    assert LeadInput.parse(SEED_LEAD | {"property_type": raw}).property_type == expected


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), (" 7 ", 7), ("", None), (3.0, 3)])
def test_unit_counts_accept_numeric_strings(raw: object, expected: int | None) -> None:
    assert LeadInput.parse(SEED_LEAD | {"number_of_units": raw}).number_of_units == expected


def test_optional_blank_text_becomes_none_and_email_is_lower_cased() -> None:
    lead = LeadInput.parse(SEED_LEAD | {"street_address": "  ", "email": "John@Example.COM"})
    assert lead.street_address is None
    assert lead.email == "john@example.com"


def test_same_submission_same_fingerprint() -> None:
    first = LeadInput.parse(SEED_LEAD)
    again = LeadInput.parse(SEED_LEAD | {"name": " John Doe "})
    other = LeadInput.parse(SEED_LEAD | {"number_of_units": 101})
    assert first.fingerprint() == again.fingerprint()
    assert first.fingerprint() != other.fingerprint()


def test_check_validates_a_lead_built_in_code() -> None:
    lead = LeadInput("Jane", "condo", "Austin", "TX", "78701")
    assert lead.check() == lead
    with pytest.raises(InvalidInput):
        LeadInput("Jane", "castle", "Austin", "TX", "78701").check()


def test_facts_hide_contact_details() -> None:
    facts = LeadInput.parse(SEED_LEAD).facts()
    assert facts.has_email is True
    assert facts.has_phone is False
    assert "test@websocket.com" not in repr(facts)
