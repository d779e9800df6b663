"""Matching: eligibility rules, ranking, fair tie-break and the recipient limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadcast.leads import (
    DistributionConfig,
    Ineligible,
    LeadFacts,
    Match,
    PMProfile,
    ScoringConfig,
    ineligibility,
    rank_key,
    score_lead,
    select_recipients,
)
from tests.leads import SEED_LEAD, SEED_PM, make_lead, make_pm

T0 = datetime(2024, 11, 4, 10, 30, tzinfo=UTC)

# -- eligibility -----------------------------------------------------------------------

ELIGIBILITY_CASES = [
    pytest.param({}, {}, None, id="seed-eligible"),
    # active
    pytest.param({}, {"active": False}, "inactive", id="inactive"),
    pytest.param(
        {"property_type": "commercial", "zip_code": "10001"},
        {"active": False},
        "inactive",
        id="inactive-reported-first",
    ),
    # property type
    pytest.param({"property_type": "commercial"}, {}, "property type", id="type-not-served"),
    pytest.param({}, {"property_types": frozenset()}, "property type", id="pm-serves-no-types"),
    pytest.param(
        {"property_type": "hoa"},
        {"property_types": frozenset({"residential", "hoa"})},
        None,
        id="one-of-several-types",
    ),
    pytest.param(
        {"property_type": "commercial", "zip_code": "10001"},
        {},
        "property type",
        id="type-reported-before-area",
    ),
    # service area
    pytest.param({"zip_code": "78702"}, {}, "outside service area", id="zip-not-served"),
    pytest.param({}, {"service_zips": frozenset()}, "outside service area", id="pm-serves-no-zips"),
    pytest.param({"zip_code": "78701-1234"}, {}, None, id="zip-plus-four"),
    pytest.param({"zip_code": " 78701 "}, {}, None, id="zip-with-spaces"),
    pytest.param(
        {"zip_code": "78702", "number_of_units": 1},
        {},
        "outside service area",
        id="area-reported-before-units",
    ),
    # units
    pytest.param({"number_of_units": 10}, {}, None, id="units-exactly-min"),
    pytest.param({"number_of_units": 9}, {}, "units below minimum", id="units-one-below-min"),
    pytest.param({"number_of_units": 200}, {}, None, id="units-exactly-max"),
    pytest.param({"number_of_units": 201}, {}, "units above maximum", id="units-one-above-max"),
    pytest.param({"number_of_units": None}, {}, None, id="units-unknown"),
    pytest.param({"number_of_units": 1}, {"min_units": None}, None, id="no-minimum"),
    pytest.param({"number_of_units": 10**6}, {"max_units": None}, None, id="no-maximum"),
    pytest.param(
        {"number_of_units": 0},
        {"min_units": 1},
        "units below minimum",
        id="zero-units-below-min",
    ),
    pytest.param(
        {"number_of_units": 500},
        {"daily_cap": 0},
        "units above maximum",
        id="units-reported-before-cap",
    ),
    # daily cap
    pytest.param({}, {"daily_cap": 5, "leads_today": 4}, None, id="cap-one-left"),
    pytest.param({}, {"daily_cap": 5, "leads_today": 5}, "daily cap reached", id="cap-reached"),
    pytest.param({}, {"daily_cap": 5, "leads_today": 7}, "daily cap reached", id="cap-exceeded"),
    pytest.param({}, {"daily_cap": 0}, "daily cap reached", id="cap-zero"),
    pytest.param({}, {"daily_cap": None, "leads_today": 10**6}, None, id="no-cap"),
    pytest.param(
        {},
        {"daily_cap": 1, "leads_today": 1, "max_open_leads": 0},
        "daily cap reached",
        id="cap-reported-before-open-leads",
    ),
    # open leads
    pytest.param({}, {"max_open_leads": 3, "open_leads": 2}, None, id="open-one-left"),
    pytest.param(
        {}, {"max_open_leads": 3, "open_leads": 3}, "too many open leads", id="open-at-max"
    ),
    pytest.param(
        {}, {"max_open_leads": 3, "open_leads": 4}, "too many open leads", id="open-over-max"
    ),
    pytest.param({}, {"max_open_leads": None, "open_leads": 10**6}, None, id="no-open-limit"),
]


@pytest.mark.parametrize(("lead", "pm", "expected"), ELIGIBILITY_CASES)
def test_ineligibility(lead: dict[str, Any], pm: dict[str, Any], expected: str | None) -> None:
    assert ineligibility(make_lead(**lead), make_pm(**pm)) == expected


def test_reasons_are_plain_strings() -> None:
    reason = ineligibility(SEED_LEAD, make_pm(active=False))

    assert reason is Ineligible.INACTIVE
    assert isinstance(reason, str)
    assert f"{reason}" == "inactive"
    assert [r.value for r in Ineligible] == [
        "inactive",
        "property type",
        "outside service area",
        "units below minimum",
        "units above maximum",
        "daily cap reached",
        "too many open leads",
    ]


# -- selection -------------------------------------------------------------------------


def pms(count: int, **changes: Any) -> list[PMProfile]:
    """``count`` seed PMs with ids 1..count and ``changes`` applied."""
    return [make_pm(id=i, **changes) for i in range(1, count + 1)]


def ids(matches: list[Match]) -> list[int]:
    return [m.pm.id for m in matches]


@pytest.mark.parametrize(
    ("eligible", "max_recipients", "expected"),
    [
        (8, 5, 5),
        (5, 5, 5),
        (3, 5, 3),
        (8, 1, 1),
        (0, 5, 0),
    ],
)
def test_at_most_max_recipients(eligible: int, max_recipients: int, expected: int) -> None:
    config = DistributionConfig(max_recipients=max_recipients)

    chosen = select_recipients(SEED_LEAD, pms(eligible), config)

    assert len(chosen) == expected
    assert ids(chosen) == list(range(1, expected + 1))


def test_default_is_five_recipients() -> None:
    assert len(select_recipients(SEED_LEAD, pms(8), DistributionConfig())) == 5


def test_ineligible_pms_are_excluded() -> None:
    candidates = [
        make_pm(id=1, active=False),
        make_pm(id=2, property_types=frozenset({"commercial"})),
        make_pm(id=3, service_zips=frozenset({"78702"})),
        make_pm(id=4, min_units=101),
        make_pm(id=5, max_units=99),
        make_pm(id=6, daily_cap=3, leads_today=3),
        make_pm(id=7, max_open_leads=2, open_leads=2),
        make_pm(id=8, daily_cap=3, leads_today=2),
        make_pm(id=9),
    ]

    chosen = select_recipients(SEED_LEAD, candidates, DistributionConfig(max_recipients=10))

    assert ids(chosen) == [9, 8]
    assert all(ineligibility(SEED_LEAD, m.pm) is None for m in chosen)


def test_ranked_by_score_descending() -> None:
    candidates = [
        make_pm(id=1, min_units=None, max_units=None),  # no unit rule: 86
        make_pm(id=2, daily_cap=10, leads_today=9),  # no room rule: 91
        make_pm(id=3),  # sweet spot and room: 96
        make_pm(id=4, min_units=100, max_units=1000),  # inside, not middle: 91
        make_pm(id=5, min_units=None, max_units=None, daily_cap=2, leads_today=1),  # 86
    ]

    chosen = select_recipients(SEED_LEAD, candidates, DistributionConfig())

    assert [(m.pm.id, m.score.score) for m in chosen] == [
        (3, 96),
        (4, 91),
        (2, 91),
        (1, 86),
        (5, 86),
    ]


def test_scores_are_the_scoring_modules() -> None:
    config = DistributionConfig(scoring=ScoringConfig(excellent_at=97, good_at=90, max_reasons=2))
    candidates = pms(3)

    chosen = select_recipients(SEED_LEAD, candidates, config)

    assert [m.score for m in chosen] == [score_lead(SEED_LEAD, pm, config.scoring) for pm in pms(3)]
    assert chosen[0].score.tier == "good"
    assert len(chosen[0].score.reasons) == 2


TIE_BREAK = [
    # Equal scores (no caps, so capacity never differs); expected order is the list order.
    make_pm(id=7, leads_today=0, last_assigned_at=None),
    make_pm(id=9, leads_today=0, last_assigned_at=None),
    make_pm(id=3, leads_today=0, last_assigned_at=T0 - timedelta(days=2)),
    make_pm(id=1, leads_today=0, last_assigned_at=T0 - timedelta(hours=1)),
    make_pm(id=2, leads_today=0, last_assigned_at=T0 - timedelta(hours=1)),
    make_pm(id=8, leads_today=1, last_assigned_at=None),
    make_pm(id=4, leads_today=1, last_assigned_at=T0),
    make_pm(id=5, leads_today=2, last_assigned_at=T0 - timedelta(days=30)),
]


@pytest.mark.parametrize("seed", range(6))
def test_tie_break_is_fair_and_deterministic(seed: int) -> None:
    shuffled = random.Random(seed).sample(TIE_BREAK, k=len(TIE_BREAK))
    config = DistributionConfig(max_recipients=len(TIE_BREAK))

    chosen = select_recipients(SEED_LEAD, shuffled, config)

    assert len({m.score.score for m in chosen}) == 1
    assert ids(chosen) == [7, 9, 3, 1, 2, 8, 4, 5]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            make_pm(id=9, leads_today=2),  # 96
            make_pm(id=1, leads_today=0, min_units=None),  # 91
            id="score-beats-fewer-leads",
        ),
        pytest.param(make_pm(id=9, leads_today=0), make_pm(id=1, leads_today=1), id="fewer-leads"),
        pytest.param(
            make_pm(id=9, last_assigned_at=None),
            make_pm(id=1, last_assigned_at=T0),
            id="never-assigned-first",
        ),
        pytest.param(
            make_pm(id=9, last_assigned_at=T0),
            make_pm(id=1, last_assigned_at=T0 + timedelta(seconds=1)),
            id="least-recently-assigned",
        ),
        pytest.param(make_pm(id=1), make_pm(id=2), id="lower-id"),
    ],
)
def test_tie_break_steps(first: PMProfile, second: PMProfile) -> None:
    for order in ([first, second], [second, first]):
        chosen = select_recipients(SEED_LEAD, order, DistributionConfig())
        assert ids(chosen) == [first.id, second.id]


def test_tie_break_cuts_at_max_recipients() -> None:
    config = DistributionConfig(max_recipients=2)

    chosen = select_recipients(SEED_LEAD, reversed(TIE_BREAK), config)

    assert ids(chosen) == [7, 9]


def test_rank_key_with_naive_datetimes() -> None:
    naive = [
        Match(make_pm(id=1, last_assigned_at=datetime(2024, 1, 2)), score_lead(SEED_LEAD, SEED_PM)),
        Match(make_pm(id=2, last_assigned_at=datetime(2024, 1, 1)), score_lead(SEED_LEAD, SEED_PM)),
        Match(make_pm(id=3, last_assigned_at=None), score_lead(SEED_LEAD, SEED_PM)),
    ]

    assert [m.pm.id for m in sorted(naive, key=rank_key)] == [3, 2, 1]


def test_accepts_any_iterable() -> None:
    chosen = select_recipients(SEED_LEAD, (pm for pm in pms(2)), DistributionConfig())

    assert ids(chosen) == [1, 2]


def test_unknown_lead_type_matches_nobody() -> None:
    lead: LeadFacts = make_lead(property_type="castle")

    assert select_recipients(lead, pms(3), DistributionConfig()) == []


@pytest.mark.parametrize(
    "config",
    [
        DistributionConfig(max_recipients=0),
        DistributionConfig(max_recipients=-1),
        DistributionConfig(scoring=ScoringConfig(good_at=90, excellent_at=80)),
    ],
)
def test_invalid_distribution_config(config: DistributionConfig) -> None:
    with pytest.raises(ValueError, match=r"."):
        config.check()
    with pytest.raises(ValueError, match=r"."):
        select_recipients(SEED_LEAD, [SEED_PM], config)
