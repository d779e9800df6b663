"""Accounts: users, passwords, login tokens, PM preferences and API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from leadcast.db.models import ApiKey, ApiToken, User
from leadcast.services.accounts import TOKEN_SWEEP_SECONDS, Accounts
from leadcast.services.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from leadcast.services.profiles import Preferences, Role
from leadcast.services.security import (
    ScryptParams,
    hash_password,
    hash_secret,
    verify_password,
)
from leadcast.services.throttle import LoginLimits, MemoryLoginThrottle
from tests.support.factories import FakeClock, accounts, make_admin, make_pm


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("hunter2-long"), hash_password("hunter2-long")
    assert first.startswith("scrypt$16384$8$1$") and first != second
    assert verify_password("hunter2-long", first)
    assert not verify_password("hunter2-lonG", first)


@pytest.mark.parametrize("stored", ["", "md5$abc", "scrypt$x$8$1$a$b", "scrypt$16$1$1$!!$!!"])
def test_malformed_hashes_never_match(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_cost_parameters_travel_with_the_hash() -> None:
    cheap = hash_password("password123", ScryptParams(n=16, r=1, p=1))
    assert cheap.startswith("scrypt$16$1$1$")
    assert verify_password("password123", cheap)


def test_create_and_log_in(engine: Engine) -> None:
    service = accounts(engine)
    user = service.create_user(email=" Avery@Example.COM ", password="password123")
    assert (user.email, user.name, user.role) == ("avery@example.com", "avery", Role.PM)
    result = service.login("AVERY@example.com", "password123")
    assert result.token.startswith("lct_") and result.user == user
    assert service.user_for_token(result.token) == user
    with engine.connect() as connection:
        stored = connection.scalar(select(ApiToken.token_hash))
        password_hash = connection.scalar(select(User.password_hash))
    assert stored == hash_secret(result.token) and result.token not in str(stored)
    assert "password123" not in str(password_hash)


@pytest.mark.parametrize(
    ("email", "password"),
    [("avery@example.com", "wrong-password"), ("nobody@example.com", "password123")],
)
def test_wrong_credentials_are_one_error(engine: Engine, email: str, password: str) -> None:
    service = accounts(engine)
    service.create_user(email="avery@example.com", password="password123")
    with pytest.raises(NotAuthenticated, match="wrong email or password"):
        service.login(email, password)


def test_logout_revokes_the_token(engine: Engine) -> None:
    service = accounts(engine)
    service.create_user(email="a@example.com", password="password123")
    token = service.login("a@example.com", "password123").token
    service.logout(token)
    with pytest.raises(NotAuthenticated):
        service.user_for_token(token)


@pytest.mark.parametrize("token", ["", "lct_unknown", "not-a-token", "lct_" + "x" * 200])
def test_unknown_tokens_are_refused(engine: Engine, token: str) -> None:
    with pytest.raises(NotAuthenticated):
        accounts(engine).user_for_token(token)


def test_tokens_expire(engine: Engine) -> None:
    clock = FakeClock()
    service = accounts(engine, clock=clock)
    service.create_user(email="a@example.com", password="password123")
    token = service.login("a@example.com", "password123").token
    clock.advance(30 * 24 * 3600 + 1)
    with pytest.raises(NotAuthenticated, match="expired"):
        service.user_for_token(token)


def throttled(engine: Engine, clock: FakeClock, **limits: Any) -> Any:
    """Accounts whose clock and login throttle's clock are ``clock``."""
    throttle = MemoryLoginThrottle(LoginLimits(**limits), clock=lambda: clock.now.timestamp())
    return accounts(engine, clock=clock, login_throttle=throttle)


def fail_logins(
    service: Accounts,
    times: int,
    email: str = "avery@example.com",
    password: str = "wrong-password",
    *,
    client: str | None = None,
) -> None:
    """Log in ``times`` times with these credentials; each attempt must be refused."""
    for _ in range(times):
        with pytest.raises(NotAuthenticated):
            service.login(email, password, client=client)


def test_the_sixth_failed_login_is_refused_even_with_the_right_password(engine: Engine) -> None:
    clock = FakeClock()
    service = throttled(engine, clock)
    service.create_user(email="avery@example.com", password="password123")
    for _ in range(5):
        with pytest.raises(NotAuthenticated):
            service.login("avery@example.com", "wrong-password", client="10.0.0.1")
        clock.advance(1)
    for password in ("wrong-password", "password123"):
        with pytest.raises(TooManyAttempts) as caught:
            service.login("Avery@Example.com", password, client="10.0.0.9")
        assert caught.value.retry_after == 15 * 60 - 5
    clock.advance(15 * 60 - 5 - 1)
    with pytest.raises(TooManyAttempts) as caught:
        service.login("avery@example.com", "password123", client="10.0.0.1")
    assert caught.value.retry_after == 1
    clock.advance(1)
    assert service.login("avery@example.com", "password123", client="10.0.0.1").token


def test_a_throttled_email_leaves_other_emails_alone(engine: Engine) -> None:
    clock = FakeClock()
    service = throttled(engine, clock)
    service.create_user(email="avery@example.com", password="password123")
    service.create_user(email="blake@example.com", password="password123")
    fail_logins(service, 5, client="10.0.0.1")
    with pytest.raises(TooManyAttempts):
        service.login("avery@example.com", "password123", client="10.0.0.1")
    assert service.login("blake@example.com", "password123", client="10.0.0.1").token


def test_a_successful_login_resets_the_count(engine: Engine) -> None:
    clock = FakeClock()
    service = throttled(engine, clock)
    service.create_user(email="avery@example.com", password="password123")
    fail_logins(service, 4)
    service.login("avery@example.com", "password123")
    fail_logins(service, 5)
    with pytest.raises(TooManyAttempts):
        service.login("avery@example.com", "password123")


def test_one_client_guessing_many_emails_is_throttled(engine: Engine) -> None:
    clock = FakeClock()
    service = throttled(engine, clock, per_client=3)
    service.create_user(email="avery@example.com", password="password123")
    for n in range(3):
        with pytest.raises(NotAuthenticated):
            service.login(f"guess{n}@example.com", "password123", client="10.0.0.1")
    with pytest.raises(TooManyAttempts):
        service.login("avery@example.com", "password123", client="10.0.0.1")
    assert service.login("avery@example.com", "password123", client="10.0.0.2").token


@pytest.mark.parametrize(
    ("email", "password"),
    [("a" * 250 + "@example.com", "password123"), ("avery@example.com", "p" * 257)],
)
def test_over_long_credentials_are_refused_uncounted(
    engine: Engine, email: str, password: str
) -> None:
    clock = FakeClock()
    service = throttled(engine, clock, per_email=1, per_client=1)
    service.create_user(email="avery@example.com", password="password123")
    fail_logins(service, 3, email, password, client="10.0.0.1")
    assert service.login("avery@example.com", "password123", client="10.0.0.1").token


def token_hashes(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(ApiToken.token_hash)))


def test_expired_tokens_are_deleted_on_login(engine: Engine) -> None:
    clock = FakeClock()
    service = accounts(engine, clock=clock, token_ttl=timedelta(hours=1))
    avery = make_pm(engine, "avery@example.com")
    make_admin(engine)
    old_avery = service.login("avery@example.com", "password123").token
    old_admin = service.login("admin@example.com", "password123").token
    clock.advance(3600)
    for old in (old_avery, old_admin):
        with pytest.raises(NotAuthenticated, match="expired"):
            service.user_for_token(old)
    assert token_hashes(engine) == {hash_secret(old_avery), hash_secret(old_admin)}

    fresh = service.login("avery@example.com", "password123").token
    assert token_hashes(engine) == {hash_secret(fresh)}  # the other user's went too
    for old in (old_avery, old_admin):
        with pytest.raises(NotAuthenticated, match="invalid token"):
            service.user_for_token(old)
    assert service.user_for_token(fresh).id == avery.id


def test_other_users_expired_tokens_are_swept_at_most_once_a_minute(engine: Engine) -> None:
    clock = FakeClock()
    service = accounts(engine, clock=clock, token_ttl=timedelta(hours=1))
    make_pm(engine, "avery@example.com")
    make_admin(engine)

    def log_in(email: str = "avery@example.com") -> str:
        return hash_secret(service.login(email, "password123").token)

    log_in()  # t=0: sweeps, the next sweep is due at t=60
    clock.advance(30)
    admin = log_in("admin@example.com")  # expires at t=3630
    clock.advance(3570)
    second = log_in()  # t=3600: my first token expired; sweeps, nothing else expired
    assert token_hashes(engine) == {admin, second}
    clock.advance(40)
    third = log_in()  # t=3640: the admin's expired, but the next sweep is due at t=3660
    assert token_hashes(engine) == {admin, second, third}
    clock.advance(TOKEN_SWEEP_SECONDS - 40)
    fourth = log_in()
    assert token_hashes(engine) == {second, third, fourth}


def test_a_new_password_ends_every_session(engine: Engine) -> None:
    service = accounts(engine)
    user = service.create_user(email="a@example.com", password="password123")
    token = service.login("a@example.com", "password123").token
    service.set_password(user.id, "another-password")
    with pytest.raises(NotAuthenticated):
        service.user_for_token(token)
    assert service.login("a@example.com", "another-password").user == user
    with pytest.raises(NotFound):
        service.set_password(2_000_000_000, "another-password")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@" + "b" * 260 + ".com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_invalid_users_are_refused(engine: Engine, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        accounts(engine).create_user(
            **({"email": "a@example.com", "password": "password123"} | options)
        )
    assert field in caught.value.fields
    with engine.connect() as connection:
        assert connection.scalar(select(User.id)) is None


def test_an_email_is_taken_once(engine: Engine) -> None:
    service = accounts(engine)
    service.create_user(email="a@example.com", password="password123")
    with pytest.raises(Conflict):
        service.create_user(email="A@example.com", password="password123", role=Role.ADMIN)


def test_pm_preferences_are_normalised_and_stored(engine: Engine) -> None:
    pm = make_pm(
        engine,
        "pm@example.com",
        zips=("78702", " 78701 ", "78702"),
        types=("Multi-Family", "residential", "apartments"),
        min_units=5,
        max_units=500,
        daily_cap=10,
    )
    view = accounts(engine).get_pm(pm.id)
    assert view.preferences == Preferences(
        active=True,
        property_types=("multifamily", "residential"),
        service_zips=("78701", "78702"),
        min_units=5,
        max_units=500,
        daily_cap=10,
        max_open_leads=None,
    )
    assert view.as_dict()["stats"] == {"leads_today": 0, "open_leads": 0, "last_assigned_at": None}


@pytest.mark.parametrize(
    ("preferences", "field"),
    [
        (Preferences(property_types=("castle",)), "property_types"),
        (Preferences(service_zips=("7870",)), "service_zips"),
        (Preferences(service_zips=tuple(f"{n:05d}" for n in range(5001))), "service_zips"),
        (Preferences(min_units=-1), "min_units"),
        (Preferences(daily_cap=10_000_000), "daily_cap"),
        (Preferences(min_units=10, max_units=5), "max_units"),
    ],
)
def test_invalid_preferences_are_refused(
    engine: Engine, preferences: Preferences, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        accounts(engine).create_user(
            email="a@example.com", password="password123", preferences=preferences
        )
    assert field in caught.value.fields


def test_update_a_pm(engine: Engine) -> None:
    pm = make_pm(engine, "pm@example.com")
    service = accounts(engine)
    view = service.update_pm(
        pm.id, name="Renamed", changes={"service_zips": ["78705"], "daily_cap": 3}
    )
    assert view.user.name == "Renamed"
    assert view.preferences.service_zips == ("78705",)
    assert view.preferences.property_types == ("residential",)
    assert view.preferences.daily_cap == 3
    view = service.update_pm(pm.id, changes={"daily_cap": None, "active": False})
    assert (view.preferences.daily_cap, view.preferences.active) == (None, False)
    with pytest.raises(InvalidInput) as caught:
        service.update_pm(pm.id, changes={"colour": "red"})
    assert "colour" in caught.value.fields
    with pytest.raises(NotFound):
        service.update_pm(2_000_000_000, name="x")


def test_list_pms_skips_admins(engine: Engine) -> None:
    service = accounts(engine)
    service.create_user(email="admin@example.com", password="password123", role=Role.ADMIN)
    ids = [make_pm(engine, f"pm{n}@example.com").id for n in range(3)]
    assert [v.user.id for v in service.list_pms()] == ids
    assert [v.user.id for v in service.list_pms(limit=1, offset=1)] == ids[1:2]
    assert service.count_pms() == 3
    with pytest.raises(NotFound):
        service.get_pm(2_000_000_000)


def test_api_keys_are_stored_hashed_and_can_be_revoked(engine: Engine) -> None:
    service = accounts(engine)
    issued = service.issue_api_key(name="Website form")
    assert issued.key.startswith("lck_") and issued.view.prefix == issued.key[:12]
    with engine.connect() as connection:
        stored = connection.scalar(select(ApiKey.key_hash))
    assert stored == hash_secret(issued.key)
    assert service.api_key_for(issued.key) == issued.view
    assert [k.id for k in service.list_api_keys()] == [issued.view.id]
    revoked = service.revoke_api_key(issued.view.id)
    assert revoked.revoked_at is not None
    with pytest.raises(NotAuthenticated):
        service.api_key_for(issued.key)
    with pytest.raises(NotFound):
        service.revoke_api_key(2_000_000_000)


def test_a_verified_key_is_cached_until_revoked_through_any_accounts(engine: Engine) -> None:
    service, other = accounts(engine), accounts(engine)
    issued = service.issue_api_key(name="Partner feed")
    assert service.cached_api_key(issued.key) is None
    assert service.api_key_for(issued.key) == issued.view
    assert service.cached_api_key(issued.key) == issued.view
    assert service.cached_api_key("lck_unknown") is None
    other.revoke_api_key(issued.view.id)  # another Accounts of the process: forgotten at once
    assert service.cached_api_key(issued.key) is None
    with pytest.raises(NotAuthenticated):
        service.api_key_for(issued.key)


@pytest.mark.parametrize("key", ["", "lck_nope", "lct_wrong-kind", "x" * 50])
def test_unknown_api_keys_are_refused(engine: Engine, key: str) -> None:
    with pytest.raises(NotAuthenticated):
        accounts(engine).api_key_for(key)


@pytest.mark.parametrize("name", ["", " ", "x" * 101])
def test_api_key_names_are_limited(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidInput):
        accounts(engine).issue_api_key(name=name)
