"""Scoring: rule table, caps, clamp, tiers, badges and reasons."""

from __future__ import annotations

from typing import Any

import pytest

from leadcast.leads import (
    Badge,
    DistributionConfig,
    Reason,
    Score,
    ScoringConfig,
    Tier,
    badge_for,
    score_lead,
    score_points,
    tier_for,
)
from tests.leads import SEED_LEAD, SEED_PM, make_lead, make_pm

# -- the seed example ------------------------------------------------------------------


def test_seed_example_is_excellent() -> None:
    score = score_lead(SEED_LEAD, SEED_PM)

    assert score.score == 96
    assert score.score >= 80
    assert score.tier is Tier.EXCELLENT
    assert score.badge == Badge("🔥 High Value", "red", "high")
    assert score.reasons == (
        "Large portfolio (100+ units)",
        "Matches your preferred property types",
        "In your target service area",
        "Unit count is in the sweet spot of your range",
    )
    assert score.breakdown == (
        Reason(30, "Base score", "base"),
        Reason(10, "Matches your preferred property types", "match"),
        Reason(10, "In your target service area", "match"),
        Reason(10, "Unit count is in the sweet spot of your range", "match"),
        Reason(5, "You have room for more leads", "match"),
        Reason(6, "Email provided", "quality"),
        Reason(20, "Large portfolio (100+ units)", "quality"),
        Reason(5, "Submitted through the website", "quality"),
    )


@pytest.mark.parametrize(
    ("lead", "pm"),
    [
        pytest.param({}, {"min_units": 1, "max_units": 100}, id="units-at-edge-of-range"),
        pytest.param({}, {"min_units": None, "max_units": None}, id="pm-without-range"),
        pytest.param({"source": None}, {"min_units": 100, "max_units": 500}, id="no-source"),
        pytest.param(
            {"source": None}, {"max_units": 100, "daily_cap": 10, "leads_today": 6}, id="worst"
        ),
    ],
)
def test_seed_like_examples_stay_excellent(lead: dict[str, Any], pm: dict[str, Any]) -> None:
    score = score_lead(make_lead(**lead), make_pm(**pm))

    assert score.score >= 80
    assert score.tier is Tier.EXCELLENT
    assert "Matches your preferred property types" in score.reasons
    assert "In your target service area" in score.reasons


def test_score_payload() -> None:
    assert score_lead(SEED_LEAD, SEED_PM).as_payload() == {
        "score": 96,
        "tier": "excellent",
        "badge": {"text": "🔥 High Value", "color": "red", "priority": "high"},
        "reasons": [
            "Large portfolio (100+ units)",
            "Matches your preferred property types",
            "In your target service area",
            "Unit count is in the sweet spot of your range",
        ],
    }


# -- every rule, one family at a time ----------------------------------------------------

FAMILIES = {
    "type": {"Matches your preferred property types", "Not one of your property types"},
    "area": {"In your target service area", "Outside your service area"},
    "units": {
        "Unit count is in the sweet spot of your range",
        "Unit count is within your range",
        "Fewer units than your minimum",
        "More units than your maximum",
    },
    "capacity": {"You have room for more leads", "You are at your lead limit"},
    "contact": {
        "Email and phone provided",
        "Email provided",
        "Phone provided",
        "No email or phone",
    },
    "portfolio": {
        "Large portfolio (100+ units)",
        "Mid-size portfolio (20-99 units)",
        "Portfolio of 5-19 units",
        "Small portfolio (1-4 units)",
    },
    "source": {"Referral lead", "Submitted through the website", "From a partner listing"},
}

RULE_CASES = [
    # property type
    ("type", {}, {}, (10, "Matches your preferred property types")),
    ("type", {"property_type": "commercial"}, {}, (-20, "Not one of your property types")),
    (
        "type",
        {"property_type": "hoa"},
        {"property_types": frozenset({"residential", "hoa"})},
        (10, "Matches your preferred property types"),
    ),
    ("type", {}, {"property_types": frozenset()}, (-20, "Not one of your property types")),
    # service area
    ("area", {}, {}, (10, "In your target service area")),
    ("area", {"zip_code": "78701-1234"}, {}, (10, "In your target service area")),
    ("area", {"zip_code": " 78701 "}, {}, (10, "In your target service area")),
    ("area", {"zip_code": "78702"}, {}, (-20, "Outside your service area")),
    ("area", {}, {"service_zips": frozenset()}, (-20, "Outside your service area")),
    # units against the PM's range 10-200: middle half is 57.5-152.5
    ("units", {"number_of_units": 105}, {}, (10, "Unit count is in the sweet spot of your range")),
    ("units", {"number_of_units": 58}, {}, (10, "Unit count is in the sweet spot of your range")),
    ("units", {"number_of_units": 152}, {}, (10, "Unit count is in the sweet spot of your range")),
    ("units", {"number_of_units": 57}, {}, (5, "Unit count is within your range")),
    ("units", {"number_of_units": 153}, {}, (5, "Unit count is within your range")),
    ("units", {"number_of_units": 10}, {}, (5, "Unit count is within your range")),
    ("units", {"number_of_units": 200}, {}, (5, "Unit count is within your range")),
    ("units", {"number_of_units": 9}, {}, (-10, "Fewer units than your minimum")),
    ("units", {"number_of_units": 201}, {}, (-10, "More units than your maximum")),
    (
        "units",
        {"number_of_units": 7},
        {"min_units": 7, "max_units": 7},
        (10, "Unit count is in the sweet spot of your range"),
    ),
    ("units", {}, {"max_units": None}, (5, "Unit count is within your range")),
    ("units", {}, {"min_units": None}, (5, "Unit count is within your range")),
    ("units", {"number_of_units": 5}, {"max_units": None}, (-10, "Fewer units than your minimum")),
    ("units", {"number_of_units": 500}, {"min_units": None}, (-10, "More units than your maximum")),
    ("units", {}, {"min_units": None, "max_units": None}, None),
    ("units", {"number_of_units": None}, {}, None),
    # capacity: the PM has no caps, or at least half of each is left
    ("capacity", {}, {}, (5, "You have room for more leads")),
    ("capacity", {}, {"daily_cap": 10, "leads_today": 5}, (5, "You have room for more leads")),
    ("capacity", {}, {"daily_cap": 10, "leads_today": 6}, None),
    ("capacity", {}, {"daily_cap": 10, "leads_today": 9}, None),
    ("capacity", {}, {"daily_cap": 10, "leads_today": 10}, (-10, "You are at your lead limit")),
    ("capacity", {}, {"daily_cap": 0}, (-10, "You are at your lead limit")),
    ("capacity", {}, {"max_open_leads": 4, "open_leads": 2}, (5, "You have room for more leads")),
    ("capacity", {}, {"max_open_leads": 4, "open_leads": 3}, None),
    ("capacity", {}, {"max_open_leads": 4, "open_leads": 4}, (-10, "You are at your lead limit")),
    (
        "capacity",
        {},
        {"daily_cap": 10, "leads_today": 0, "max_open_leads": 4, "open_leads": 4},
        (-10, "You are at your lead limit"),
    ),
    (
        "capacity",
        {},
        {"daily_cap": 10, "leads_today": 8, "max_open_leads": 4, "open_leads": 0},
        None,
    ),
    # contact completeness
    ("contact", {"has_phone": True}, {}, (10, "Email and phone provided")),
    ("contact", {}, {}, (6, "Email provided")),
    ("contact", {"has_email": False, "has_phone": True}, {}, (6, "Phone provided")),
    ("contact", {"has_email": False}, {}, (-10, "No email or phone")),
    # portfolio size buckets
    ("portfolio", {"number_of_units": None}, {}, None),
    ("portfolio", {"number_of_units": 0}, {}, None),
    ("portfolio", {"number_of_units": 1}, {}, (2, "Small portfolio (1-4 units)")),
    ("portfolio", {"number_of_units": 4}, {}, (2, "Small portfolio (1-4 units)")),
    ("portfolio", {"number_of_units": 5}, {}, (6, "Portfolio of 5-19 units")),
    ("portfolio", {"number_of_units": 19}, {}, (6, "Portfolio of 5-19 units")),
    ("portfolio", {"number_of_units": 20}, {}, (12, "Mid-size portfolio (20-99 units)")),
    ("portfolio", {"number_of_units": 99}, {}, (12, "Mid-size portfolio (20-99 units)")),
    ("portfolio", {"number_of_units": 100}, {}, (20, "Large portfolio (100+ units)")),
    ("portfolio", {"number_of_units": 5000}, {}, (20, "Large portfolio (100+ units)")),
    # source quality
    ("source", {"source": "referral"}, {}, (10, "Referral lead")),
    ("source", {"source": "Referred"}, {}, (10, "Referral lead")),
    ("source", {"source": "website"}, {}, (5, "Submitted through the website")),
    ("source", {"source": "WEBSITE"}, {}, (5, "Submitted through the website")),
    ("source", {"source": "web"}, {}, (5, "Submitted through the website")),
    ("source", {"source": "Web-Form"}, {}, (5, "Submitted through the website")),
    ("source", {"source": "organic"}, {}, (5, "Submitted through the website")),
    ("source", {"source": " Partner "}, {}, (5, "From a partner listing")),
    ("source", {"source": "paid-ads"}, {}, None),
    ("source", {"source": ""}, {}, None),
    ("source", {"source": None}, {}, None),
]


@pytest.mark.parametrize(("family", "lead", "pm", "expected"), RULE_CASES)
def test_rule(
    family: str, lead: dict[str, Any], pm: dict[str, Any], expected: tuple[int, str] | None
) -> None:
    score = score_lead(make_lead(**lead), make_pm(**pm))

    fired = [(r.points, r.text) for r in score.breakdown if r.text in FAMILIES[family]]
    assert fired == ([] if expected is None else [expected])


def test_every_rule_text_is_covered_by_a_case() -> None:
    covered = {expected[1] for _, _, _, expected in RULE_CASES if expected is not None}
    assert covered == set().union(*FAMILIES.values())


@pytest.mark.parametrize(
    ("family", "group"),
    [
        ("type", "match"),
        ("area", "match"),
        ("units", "match"),
        ("capacity", "match"),
        ("contact", "quality"),
        ("portfolio", "quality"),
        ("source", "quality"),
    ],
)
def test_rule_groups(family: str, group: str) -> None:
    lead = make_lead(has_phone=True, source="referral")

    groups = {r.group for r in score_lead(lead, SEED_PM).breakdown if r.text in FAMILIES[family]}

    assert groups == {group}


def test_base_points_come_first() -> None:
    config = ScoringConfig(base_points=42)

    assert score_lead(SEED_LEAD, SEED_PM, config).breakdown[0] == Reason(42, "Base score", "base")


# -- group caps, breakdown and clamp ------------------------------------------------------


def test_quality_cap_bites() -> None:
    lead = make_lead(has_phone=True, source="referral")  # 10 + 20 + 10 = 40 quality points

    score = score_lead(lead, SEED_PM)

    assert Reason(-5, "Lead quality capped at 35 points", "quality") in score.breakdown
    assert score.score == 30 + 35 + 35 == 100


def test_match_cap_bites() -> None:
    config = ScoringConfig(match_cap=20)  # 10 + 10 + 10 + 5 = 35 match points

    score = score_lead(SEED_LEAD, SEED_PM, config)

    assert Reason(-15, "Match fit capped at 20 points", "match") in score.breakdown
    assert score.score == 30 + 20 + 31


def test_cap_at_exactly_the_total_does_not_add_an_entry() -> None:
    score = score_lead(SEED_LEAD, SEED_PM, ScoringConfig(match_cap=35, quality_cap=31))

    assert not any("capped" in r.text for r in score.breakdown)
    assert score.score == 96


def test_cap_never_lifts_a_negative_group() -> None:
    # Match fit: -20 type, -20 area, +10 units, +5 room = -25; quality: -10 + 20 + 5 = 15.
    lead = make_lead(property_type="commercial", zip_code="10001", has_email=False)

    score = score_lead(lead, SEED_PM, ScoringConfig(match_cap=0, quality_cap=0))

    capped = [r for r in score.breakdown if "capped" in r.text]
    assert capped == [Reason(-15, "Lead quality capped at 0 points", "quality")]
    assert sum(r.points for r in score.breakdown if r.group == "match") == -25


CLAMP_CASES = [
    pytest.param({}, {}, ScoringConfig(), 96, id="seed"),
    pytest.param({"has_phone": True, "source": "referral"}, {}, ScoringConfig(), 100, id="top"),
    pytest.param(
        {"property_type": "hoa", "zip_code": "10001", "number_of_units": 500, "has_email": False},
        {"daily_cap": 1, "leads_today": 1},
        ScoringConfig(),
        0,
        id="clamped-low",
    ),
    pytest.param({}, {}, ScoringConfig(base_points=90), 100, id="clamped-high"),
    pytest.param({"number_of_units": None, "source": None}, {}, ScoringConfig(), 61, id="sparse"),
]


@pytest.mark.parametrize(("lead", "pm", "config", "expected"), CLAMP_CASES)
def test_breakdown_sums_to_score_before_clamping(
    lead: dict[str, Any], pm: dict[str, Any], config: ScoringConfig, expected: int
) -> None:
    score = score_lead(make_lead(**lead), make_pm(**pm), config)

    raw = sum(r.points for r in score.breakdown)
    assert score.score == min(100, max(0, raw)) == expected
    assert 0 <= score.score <= 100


def test_score_points_is_score_lead_without_the_reasons() -> None:
    """The ranking pass's number equals the full score over every rule outcome and cap."""
    leads = [
        make_lead(
            property_type=kind, zip_code=zip_code, number_of_units=units,
            has_email=email, has_phone=phone, source=source,
        )
        for kind in ("residential", "hoa")
        for zip_code in ("78701", "10001")
        for units in (None, 0, 3, 12, 50, 100, 160, 500)
        for email in (True, False)
        for phone in (True, False)
        for source in (None, "referral", "website", "partner", "billboard")
    ]  # fmt: skip
    pms = [
        make_pm(min_units=low, max_units=high, daily_cap=cap, leads_today=today,
                max_open_leads=opened, open_leads=open_now)
        for low, high in ((None, None), (10, None), (None, 200), (50, 150))
        for cap, today in ((None, 0), (4, 1), (4, 3), (2, 2))
        for opened, open_now in ((None, 0), (10, 9))
    ]  # fmt: skip
    configs = [
        ScoringConfig(),
        ScoringConfig(base_points=90),
        ScoringConfig(base_points=0, match_cap=5, quality_cap=5),
    ]
    outcomes = set()
    for config in configs:
        for lead in leads:
            for pm in pms:
                expected = score_lead(lead, pm, config).score
                assert score_points(lead, pm, config) == expected, (lead, pm, config)
                outcomes.add(expected)
    assert {0, 100} <= outcomes and len(outcomes) > 40  # the grid reaches clamps and caps


def test_clamp_low_really_clamps() -> None:
    lead = make_lead(property_type="hoa", zip_code="10001", number_of_units=500, has_email=False)
    score = score_lead(lead, make_pm(daily_cap=1, leads_today=1))

    assert sum(r.points for r in score.breakdown) == 30 - 20 - 20 - 10 - 10 - 10 + 20 + 5 == -15
    assert score.score == 0
    assert score.tier is Tier.FAIR


def test_clamp_high_really_clamps() -> None:
    score = score_lead(SEED_LEAD, SEED_PM, ScoringConfig(base_points=90))

    assert sum(r.points for r in score.breakdown) == 156
    assert score.score == 100


# -- reasons ---------------------------------------------------------------------------


def test_reasons_strongest_first_ties_in_table_order_at_most_four() -> None:
    lead = make_lead(has_phone=True, source="referral", number_of_units=30)
    pm = make_pm(min_units=20, max_units=40)

    score = score_lead(lead, pm)

    # Positive rules: type 10, area 10, units 10, room 5, contact 10, portfolio 12, source 10.
    assert score.reasons == (
        "Mid-size portfolio (20-99 units)",
        "Matches your preferred property types",
        "In your target service area",
        "Unit count is in the sweet spot of your range",
    )


def test_reasons_are_positive_rules_only() -> None:
    lead = make_lead(has_email=False, number_of_units=5, source=None)
    pm = make_pm(daily_cap=2, leads_today=2)  # eligible or not, scoring still explains

    score = score_lead(lead, pm)

    assert score.reasons == (
        "Matches your preferred property types",
        "In your target service area",
        "Portfolio of 5-19 units",
    )
    negative = {r.text for r in score.breakdown if r.points < 0}
    assert negative == {
        "Fewer units than your minimum",
        "You are at your lead limit",
        "No email or phone",
    }
    assert "Base score" not in score.reasons


@pytest.mark.parametrize(
    ("max_reasons", "expected"),
    [
        (1, ("Matches your preferred property types",)),
        (2, ("Large portfolio (100+ units)", "Matches your preferred property types")),
        (
            3,
            (
                "Large portfolio (100+ units)",
                "Matches your preferred property types",
                "In your target service area",
            ),
        ),
    ],
)
def test_reasons_always_include_a_why_it_matched_you_reason(
    max_reasons: int, expected: tuple[str, ...]
) -> None:
    score = score_lead(SEED_LEAD, SEED_PM, ScoringConfig(max_reasons=max_reasons))

    assert score.reasons == expected


def test_reasons_when_nothing_matched_show_lead_quality_only() -> None:
    lead = make_lead(property_type="commercial", zip_code="10001", number_of_units=5000)
    pm = make_pm(daily_cap=1, leads_today=1)

    score = score_lead(lead, pm, ScoringConfig(max_reasons=1))

    assert score.reasons == ("Large portfolio (100+ units)",)


def test_reasons_can_be_empty() -> None:
    lead = make_lead(
        property_type="commercial",
        zip_code="10001",
        number_of_units=None,
        has_email=False,
        source=None,
    )
    score = score_lead(lead, make_pm(daily_cap=1, leads_today=1))

    assert score.reasons == ()
    assert score.score == 0


# -- tiers and badges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0, Tier.FAIR),
        (59, Tier.FAIR),
        (60, Tier.GOOD),
        (79, Tier.GOOD),
        (80, Tier.EXCELLENT),
        (100, Tier.EXCELLENT),
    ],
)
def test_tier_for_default_thresholds(score: int, tier: Tier) -> None:
    assert tier_for(score, ScoringConfig()) is tier


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (49, Tier.FAIR),
        (50, Tier.GOOD),
        (89, Tier.GOOD),
        (90, Tier.EXCELLENT),
    ],
)
def test_tier_for_custom_thresholds(score: int, tier: Tier) -> None:
    assert tier_for(score, ScoringConfig(excellent_at=90, good_at=50)) is tier


@pytest.mark.parametrize(
    ("base_points", "expected_score", "tier"),
    [
        (-7, 59, Tier.FAIR),
        (-6, 60, Tier.GOOD),
        (13, 79, Tier.GOOD),
        (14, 80, Tier.EXCELLENT),
    ],
)
def test_score_lead_tier_boundaries(base_points: int, expected_score: int, tier: Tier) -> None:
    # The seed example's rules add 66 points on top of the base.
    score = score_lead(SEED_LEAD, SEED_PM, ScoringConfig(base_points=base_points))

    assert score.score == expected_score
    assert score.tier is tier
    assert score.badge == badge_for(tier)


def test_score_lead_uses_configured_thresholds() -> None:
    score = score_lead(SEED_LEAD, SEED_PM, ScoringConfig(excellent_at=97, good_at=96))

    assert (score.score, score.tier) == (96, Tier.GOOD)


@pytest.mark.parametrize(
    ("tier", "badge", "payload"),
    [
        (
            Tier.EXCELLENT,
            Badge("🔥 High Value", "red", "high"),
            {"text": "🔥 High Value", "color": "red", "priority": "high"},
        ),
        (
            Tier.GOOD,
            Badge("⭐ Good Match", "green", "medium"),
            {"text": "⭐ Good Match", "color": "green", "priority": "medium"},
        ),
        (
            Tier.FAIR,
            Badge("Fair Match", "gray", "low"),
            {"text": "Fair Match", "color": "gray", "priority": "low"},
        ),
    ],
)
def test_badge_for(tier: Tier, badge: Badge, payload: dict[str, str]) -> None:
    assert badge_for(tier) == badge
    assert badge_for(tier).as_payload() == payload


def test_tier_values_are_the_wire_spelling() -> None:
    assert [t.value for t in Tier] == ["excellent", "good", "fair"]
    assert Tier("good") is Tier.GOOD


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        ScoringConfig(),
        ScoringConfig(excellent_at=1, good_at=0),
        ScoringConfig(excellent_at=100, good_at=99),
        ScoringConfig(match_cap=0, quality_cap=0, max_reasons=1),
    ],
)
def test_valid_scoring_config(config: ScoringConfig) -> None:
    assert config.check() is config


@pytest.mark.parametrize(
    "config",
    [
        ScoringConfig(excellent_at=80, good_at=80),
        ScoringConfig(excellent_at=60, good_at=80),
        ScoringConfig(good_at=-1),
        ScoringConfig(excellent_at=101),
        ScoringConfig(match_cap=-1),
        ScoringConfig(quality_cap=-1),
        ScoringConfig(max_reasons=0),
    ],
)
def test_invalid_scoring_config(config: ScoringConfig) -> None:
    with pytest.raises(ValueError, match=r"."):
        config.check()
    with pytest.raises(ValueError, match=r"."):
        score_lead(SEED_LEAD, SEED_PM, config)


def test_threshold_error_names_the_values() -> None:
    with pytest.raises(ValueError, match=r"good_at=80, excellent_at=70"):
        ScoringConfig(excellent_at=70, good_at=80).check()


def test_distribution_config_defaults() -> None:
    config = DistributionConfig()

    assert config.max_recipients == 5
    assert config.scoring == ScoringConfig()
    assert (config.scoring.excellent_at, config.scoring.good_at) == (80, 60)
    assert config.check() is config


def test_values_are_frozen() -> None:
    score: Score = score_lead(SEED_LEAD, SEED_PM)

    with pytest.raises(AttributeError):
        score.score = 1  # type: ignore[misc]
