"""Demo data: known accounts on a first start, realistic leads."""

from __future__ import annotations

import random

from sqlalchemy import Engine

from leadcast.services.demo import demo_lead, ensure_demo_data
from leadcast.services.distribution import Distributor
from leadcast.services.intake import LeadInput
from leadcast.services.profiles import Role
from tests.support.factories import FAST_SCRYPT, accounts, make_pm


def test_first_start_creates_known_accounts_once(engine: Engine) -> None:
    first = ensure_demo_data(engine, scrypt=FAST_SCRYPT)
    assert first is not None and first.created and first.api_key is not None
    assert first.admin.role is Role.ADMIN and len(first.pms) == 3
    service = accounts(engine)
    for credentials in (first.admin, *first.pms):
        assert service.login(credentials.email, credentials.password).user.id == credentials.id
    assert service.api_key_for(first.api_key).name == "Demo lead source"
    again = ensure_demo_data(engine, scrypt=FAST_SCRYPT)
    assert again is not None and not again.created and again.api_key is None
    assert (again.admin, again.pms) == (first.admin, first.pms)
    assert service.count_pms() == 3


def test_a_database_with_real_users_gets_no_demo(engine: Engine) -> None:
    make_pm(engine, "real@example.com")
    assert ensure_demo_data(engine, scrypt=FAST_SCRYPT) is None
    assert accounts(engine).count_pms() == 1


def test_demo_leads_are_valid_varied_and_reach_the_demo_pms(engine: Engine) -> None:
    ensure_demo_data(engine, scrypt=FAST_SCRYPT)
    rng = random.Random(7)
    leads = [LeadInput.parse(demo_lead(rng)) for _ in range(40)]
    assert len({lead.unique_id for lead in leads}) == 40
    assert len({lead.property_type for lead in leads}) >= 4
    assert all(lead.city == "Austin" and lead.state == "TX" for lead in leads)
    distributor = Distributor(engine)
    reached = sum(distributor.submit(lead).recipients > 0 for lead in leads)
    assert reached >= 30


def test_demo_leads_are_reproducible() -> None:
    assert demo_lead(random.Random(1)) == demo_lead(random.Random(1))
