"""Demo data: PMs and an admin with known credentials, and realistic random leads.

For ``leadcast up`` on a fresh database, so there is something to log in to and watch.
The credentials are public by design: never run the demo against real data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from leadcast.db.models import User
from leadcast.services.accounts import Accounts
from leadcast.services.errors import Conflict
from leadcast.services.profiles import Preferences, Role
from leadcast.services.security import DEFAULT_SCRYPT, ScryptParams

__all__ = ["AUSTIN_ZIPS", "Credentials", "DemoData", "demo_lead", "ensure_demo_data"]

AUSTIN_ZIPS = ("78701", "78702", "78703", "78704", "78705", "78721", "78722", "78723")


@dataclass(frozen=True, slots=True)
class Credentials:
    id: int
    email: str
    password: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class DemoData:
    """The demo accounts.

    Attributes:
        admin: the admin.
        pms: the property managers.
        api_key: a lead-source key, only when the accounts were created just now (keys are
            stored hashed, so it cannot be shown again).
        created: whether this call created them.
    """

    admin: Credentials
    pms: tuple[Credentials, ...]
    api_key: str | None
    created: bool


_ADMIN = ("admin@leadcast.test", "leadcast-admin", "Demo Admin")
_PMS: tuple[tuple[str, str, str, Preferences], ...] = (
    (
        "avery@leadcast.test",
        "leadcast-demo",
        "Avery Residential Group",
        Preferences(
            property_types=("residential", "single-family", "multifamily", "condo"),
            service_zips=AUSTIN_ZIPS,
            min_units=1,
            max_units=200,
        ),
    ),
    (
        "blake@leadcast.test",
        "leadcast-demo",
        "Blake Commercial Partners",
        Preferences(
            property_types=("commercial", "office", "retail", "mixed-use", "industrial"),
            service_zips=AUSTIN_ZIPS[:5],
            min_units=1,
            max_units=50,
        ),
    ),
    (
        "casey@leadcast.test",
        "leadcast-demo",
        "Casey Multifamily Management",
        Preferences(
            property_types=("residential", "multifamily", "hoa", "condo"),
            service_zips=AUSTIN_ZIPS,
            min_units=20,
            max_units=1000,
            daily_cap=200,
        ),
    ),
)


def ensure_demo_data(engine: Engine, *, scrypt: ScryptParams = DEFAULT_SCRYPT) -> DemoData | None:
    """Create the demo accounts on a database without users; idempotent.

    Returns:
        The demo accounts (``created`` says whether just now), or ``None`` when the database
        already has other users and no demo accounts (not a first start: nothing is added).
    """
    accounts = Accounts(engine, scrypt=scrypt)
    with Session(engine) as session:
        users = session.scalar(select(func.count()).select_from(User)) or 0
        ids = dict(
            session.execute(
                select(User.email, User.id).where(
                    User.email.in_([_ADMIN[0], *(pm[0] for pm in _PMS)])
                )
            ).all()
        )
    created = False
    api_key: str | None = None
    if not ids:
        if users:
            return None
        try:
            admin = accounts.create_user(
                email=_ADMIN[0], password=_ADMIN[1], name=_ADMIN[2], role=Role.ADMIN
            )
            ids[admin.email] = admin.id
            for email, password, name, preferences in _PMS:
                ids[email] = accounts.create_user(
                    email=email, password=password, name=name, preferences=preferences
                ).id
            api_key = accounts.issue_api_key(name="Demo lead source", created_by=admin.id).key
            created = True
        except Conflict:  # another process is creating them right now
            return ensure_demo_data(engine, scrypt=scrypt)
    return DemoData(
        admin=Credentials(ids[_ADMIN[0]], _ADMIN[0], _ADMIN[1], _ADMIN[2], Role.ADMIN),
        pms=tuple(
            Credentials(ids[email], email, password, name, Role.PM)
            for email, password, name, _ in _PMS
            if email in ids
        ),
        api_key=api_key,
        created=created,
    )


_FIRST = ("Maria", "James", "Aisha", "Chen", "Olivia", "Diego", "Priya", "Noah", "Fatima", "Liam")
_LAST = ("Garcia", "Smith", "Johnson", "Nguyen", "Patel", "Brown", "Kim", "Lopez", "Okafor")
_STREETS = ("Congress Ave", "Lamar Blvd", "Guadalupe St", "Cesar Chavez St", "Riverside Dr")
# (property type, smallest and largest unit count, weight)
_KINDS = (
    ("residential", 1, 150, 5),
    ("multifamily", 12, 400, 3),
    ("single-family", 1, 4, 2),
    ("condo", 10, 120, 2),
    ("commercial", 1, 30, 2),
    ("hoa", 40, 600, 1),
)
_SOURCES = ("website", "website", "referral", "partner", "zillow", None)


def demo_lead(rng: random.Random) -> dict[str, Any]:
    """A realistic lead in Austin, TX, as ``POST /api/leads`` takes it.

    The keys are :class:`~leadcast.services.intake.LeadInput` fields, so
    ``LeadInput.parse(demo_lead(rng))`` accepts it; ``unique_id`` makes each one distinct.
    """
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    kind, low, high, _ = rng.choices(_KINDS, weights=[k[3] for k in _KINDS])[0]
    has_email, has_phone = rng.random() < 0.9, rng.random() < 0.7
    lead: dict[str, Any] = {
        "unique_id": f"DEMO-{rng.getrandbits(48):012x}",
        "full_name": f"{first} {last}",
        "property_type": kind,
        "street_address": f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}",
        "city": "Austin",
        "state": "TX",
        "zip_code": rng.choice(AUSTIN_ZIPS),
        "number_of_units": rng.randint(low, high),
        "source": rng.choice(_SOURCES),
    }
    if has_email:
        lead["email"] = f"{first}.{last}{rng.randint(1, 99)}@example.com".lower()
    if has_phone:
        lead["phone"] = f"+1 512 555 {rng.randint(0, 9999):04d}"
    return {k: v for k, v in lead.items() if v is not None}
