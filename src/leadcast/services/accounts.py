"""Accounts: PMs and admins, login tokens, PM preferences and lead-source API keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from leadcast.db.engine import SQLITE_BEGIN
from leadcast.db.models import (
    ApiKey,
    ApiToken,
    PMCoverage,
    PMPreferences,
    PMPropertyType,
    PMServiceZip,
    User,
)
from leadcast.services.clock import Clock, utc_now
from leadcast.services.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from leadcast.services.keycache import API_KEYS
from leadcast.services.profiles import (
    ApiKeyView,
    IssuedApiKey,
    LoginResult,
    PMView,
    Preferences,
    Role,
    UserView,
    check_email,
    leads_today,
)
from leadcast.services.security import (
    API_KEY_PREFIX,
    DEFAULT_SCRYPT,
    TOKEN_PREFIX,
    ScryptParams,
    hash_password,
    hash_secret,
    new_secret,
    secret_matches,
    verify_password,
)
from leadcast.services.throttle import LoginThrottle, MemoryLoginThrottle

__all__ = [
    "MAX_EMAIL",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "TOKEN_SWEEP_BATCH",
    "TOKEN_SWEEP_SECONDS",
    "Accounts",
]

MIN_PASSWORD, MAX_PASSWORD = 8, 256
MAX_EMAIL = 254
TOKEN_SWEEP_SECONDS = 60.0
"""Least time between two sweeps of everyone's expired login tokens (per ``Accounts``)."""
TOKEN_SWEEP_BATCH = 500
"""Most expired login tokens one sweep deletes."""


def _user_view(user: User) -> UserView:
    return UserView(user.id, user.email, user.name, Role(user.role), user.created_at)


def _key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(key.id, key.name, key.prefix, key.created_at, key.revoked_at)


class Accounts:
    """Users, tokens, PM preferences and API keys, over one engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        token_ttl: timedelta = timedelta(days=30),
        scrypt: ScryptParams = DEFAULT_SCRYPT,
        clock: Clock = utc_now,
        login_throttle: LoginThrottle | None = None,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Writing transactions take SQLite's write lock up front (no snapshot conflicts).
        self._writes = sessionmaker(
            engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}), expire_on_commit=False
        )
        self._token_ttl = token_ttl
        self._scrypt = scrypt
        self._clock = clock
        self._decoy: str | None = None
        self._throttle: LoginThrottle = login_throttle or MemoryLoginThrottle()
        self._next_sweep: datetime | None = None
        self._key_scope = engine.url.render_as_string(hide_password=True)

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        *,
        email: str,
        password: str,
        name: str | None = None,
        role: Role = Role.PM,
        preferences: Preferences | None = None,
    ) -> UserView:
        """Create a PM (with ``preferences``, default: active, takes nothing yet) or admin.

        Raises:
            InvalidInput: bad email, password (8-256 characters), name or preferences.
            Conflict: the email is taken.
        """
        role = Role(role)
        email = check_email(email)
        self._check_password(password)
        display = (name or email.split("@")[0]).strip()
        if not display or len(display) > 200:
            raise InvalidInput({"name": "must be 1-200 characters"})
        prefs = (preferences or Preferences()).checked() if role is Role.PM else None
        password_hash = hash_password(password, self._scrypt)  # slow: outside the transaction
        now = self._clock()
        with self._writes.begin() as session:
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise Conflict(f"a user with email {email} already exists")
            user = User(
                email=email,
                name=display,
                role=role.value,
                password_hash=password_hash,
                created_at=now,
            )
            session.add(user)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(f"a user with email {email} already exists") from None
            if prefs is not None:
                self._store_preferences(session, user.id, prefs, now, new=True)
            return _user_view(user)

    def set_password(self, user_id: int, password: str) -> None:
        self._check_password(password)
        password_hash = hash_password(password, self._scrypt)
        with self._writes.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"no user {user_id}")
            user.password_hash = password_hash
            session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))

    def user_by_email(self, email: str) -> UserView | None:
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.email == email.strip().lower()))
            return None if user is None else _user_view(user)

    def _check_password(self, password: str) -> None:
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                {"password": f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters long"}
            )

    # -- login tokens --------------------------------------------------------------------

    def login(self, email: str, password: str, *, client: str | None = None) -> LoginResult:
        """Check the credentials and issue a token.

        Over-long credentials are refused before anything else, and attempts beyond the
        throttle's limits before any database read or password hash. A successful login
        also deletes expired tokens: the user's own, and (at most every
        ``TOKEN_SWEEP_SECONDS``) up to ``TOKEN_SWEEP_BATCH`` of anyone's.

        Args:
            email: the email, in any case.
            password: the password.
            client: the caller's address, for the per-client limit (``None``: unknown).

        Raises:
            NotAuthenticated: unknown email or wrong password (the same error for both).
            TooManyAttempts: too many recent failed attempts for this email or client.
        """
        normalised = email.strip().lower()
        if len(normalised) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            raise NotAuthenticated("wrong email or password")  # no account has such credentials
        if wait := self._throttle.attempt(normalised, client):
            raise TooManyAttempts(
                f"too many failed logins: try again in {wait} seconds", retry_after=wait
            )
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.email == normalised))
        # The slow hash runs outside any transaction.
        stored = user.password_hash if user is not None else self._decoy_hash()
        if not verify_password(password, stored) or user is None:
            raise NotAuthenticated("wrong email or password")
        self._throttle.succeeded(normalised, client)
        token = new_secret(TOKEN_PREFIX)
        now = self._clock()
        expires = now + self._token_ttl
        with self._writes.begin() as session:
            self._delete_expired_tokens(session, now, user.id)
            session.add(
                ApiToken(
                    user_id=user.id,
                    token_hash=hash_secret(token),
                    created_at=now,
                    expires_at=expires,
                )
            )
            return LoginResult(token, _user_view(user), expires)

    def _delete_expired_tokens(self, session: Session, now: datetime, user_id: int) -> None:
        expired = ApiToken.expires_at <= now
        session.execute(delete(ApiToken).where(ApiToken.user_id == user_id, expired))
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + timedelta(seconds=TOKEN_SWEEP_SECONDS)
        batch = select(ApiToken.id).where(expired).limit(TOKEN_SWEEP_BATCH)
        session.execute(
            delete(ApiToken)
            .where(ApiToken.id.in_(batch.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )

    def _decoy_hash(self) -> str:
        # Checked against for unknown emails, so they cost as much as a wrong password.
        if self._decoy is None:
            self._decoy = hash_password("decoy-password", self._scrypt)
        return self._decoy

    def logout(self, token: str) -> None:
        """Revoke a token (unknown tokens are ignored)."""
        with self._writes.begin() as session:
            session.execute(delete(ApiToken).where(ApiToken.token_hash == hash_secret(token)))

    def user_for_token(self, token: str) -> UserView:
        """The user a login token belongs to.

        Raises:
            NotAuthenticated: unknown, malformed or expired token.
        """
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise NotAuthenticated("invalid token")
        digest = hash_secret(token)
        with self._sessions() as session:
            row = session.execute(
                select(User, ApiToken.token_hash, ApiToken.expires_at)
                .join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == digest)
            ).first()
        if row is None or not secret_matches(token, row[1]):
            raise NotAuthenticated("invalid token")
        if row[2] <= self._clock():
            raise NotAuthenticated("token expired")
        return _user_view(row[0])

    # -- PMs -----------------------------------------------------------------------------

    def list_pms(self, *, limit: int = 100, offset: int = 0) -> list[PMView]:
        with self._sessions() as session:
            users = session.scalars(
                select(User)
                .where(User.role == Role.PM.value)
                .order_by(User.id)
                .limit(min(max(limit, 1), 500))
                .offset(max(offset, 0))
            ).all()
            return self._pm_views(session, users)

    def count_pms(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).where(User.role == Role.PM.value)) or 0

    def get_pm(self, pm_id: int) -> PMView:
        """Raises: NotFound: no PM with that id."""
        with self._sessions() as session:
            user = session.get(User, pm_id)
            if user is None or user.role != Role.PM.value:
                raise NotFound(f"no property manager {pm_id}")
            return self._pm_views(session, [user])[0]

    def update_pm(
        self, pm_id: int, *, name: str | None = None, changes: Mapping[str, Any] | None = None
    ) -> PMView:
        """Rename a PM and/or change some preferences (fields of :class:`Preferences`).

        Raises:
            NotFound: no PM with that id.
            InvalidInput: an unknown or invalid field.
        """
        changes = dict(changes or {})
        known = {f.name for f in fields(Preferences)}
        if unknown := sorted(set(changes) - known):
            raise InvalidInput({name: "unknown preference" for name in unknown})
        for listed in ("property_types", "service_zips"):
            if listed in changes:
                changes[listed] = tuple(changes[listed])
        if name is not None and not 1 <= len(name.strip()) <= 200:
            raise InvalidInput({"name": "must be 1-200 characters"})
        with self._writes.begin() as session:
            user = session.get(User, pm_id)
            if user is None or user.role != Role.PM.value:
                raise NotFound(f"no property manager {pm_id}")
            current = self._pm_views(session, [user])[0].preferences
            updated = replace(current, **changes).checked()
            if name is not None:
                user.name = name.strip()
            self._store_preferences(session, pm_id, updated, self._clock(), new=False)
            session.flush()
            return self._pm_views(session, [user])[0]

    def _store_preferences(
        self, session: Session, pm_id: int, prefs: Preferences, now: datetime, *, new: bool
    ) -> None:
        values = {
            "active": prefs.active,
            "min_units": prefs.min_units,
            "max_units": prefs.max_units,
            "daily_cap": prefs.daily_cap,
            "max_open_leads": prefs.max_open_leads,
            "updated_at": now,
        }
        if new:
            session.add(PMPreferences(user_id=pm_id, leads_today=0, open_leads=0, **values))
            session.flush()
        else:
            row = session.get(PMPreferences, pm_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            session.execute(delete(PMServiceZip).where(PMServiceZip.pm_id == pm_id))
            session.execute(delete(PMPropertyType).where(PMPropertyType.pm_id == pm_id))
            session.execute(delete(PMCoverage).where(PMCoverage.pm_id == pm_id))
        session.add_all(PMServiceZip(pm_id=pm_id, zip_code=z) for z in prefs.service_zips)
        session.add_all(PMPropertyType(pm_id=pm_id, property_type=t) for t in prefs.property_types)
        # Distribution's index: every ZIP × type this PM takes (see db.models).
        cells = [
            {"pm_id": pm_id, "zip_code": z, "property_type": t}
            for z in prefs.service_zips
            for t in prefs.property_types
        ]
        if cells:
            session.execute(insert(PMCoverage), cells)

    def _pm_views(self, session: Session, users: Iterable[User]) -> list[PMView]:
        users = list(users)
        ids = [u.id for u in users]
        prefs = {
            p.user_id: p
            for p in session.scalars(select(PMPreferences).where(PMPreferences.user_id.in_(ids)))
        }
        zips: dict[int, list[str]] = {i: [] for i in ids}
        for pm_id, zip_code in session.execute(
            select(PMServiceZip.pm_id, PMServiceZip.zip_code)
            .where(PMServiceZip.pm_id.in_(ids))
            .order_by(PMServiceZip.zip_code)
        ):
            zips[pm_id].append(zip_code)
        types: dict[int, list[str]] = {i: [] for i in ids}
        for pm_id, property_type in session.execute(
            select(PMPropertyType.pm_id, PMPropertyType.property_type)
            .where(PMPropertyType.pm_id.in_(ids))
            .order_by(PMPropertyType.property_type)
        ):
            types[pm_id].append(property_type)
        today = self._clock().date()
        views = []
        for user in users:
            row = prefs[user.id]
            views.append(
                PMView(
                    user=_user_view(user),
                    preferences=Preferences(
                        active=row.active,
                        property_types=tuple(types[user.id]),
                        service_zips=tuple(zips[user.id]),
                        min_units=row.min_units,
                        max_units=row.max_units,
                        daily_cap=row.daily_cap,
                        max_open_leads=row.max_open_leads,
                    ),
                    leads_today=leads_today(row.leads_today, row.counted_on, today),
                    open_leads=row.open_leads,
                    last_assigned_at=row.last_assigned_at,
                )
            )
        return views

    # -- lead-source API keys ------------------------------------------------------------

    def issue_api_key(self, *, name: str, created_by: int | None = None) -> IssuedApiKey:
        """Create a lead-source key; the returned ``key`` is not stored and not shown again."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput({"name": "must be 1-100 characters"})
        key = new_secret(API_KEY_PREFIX)
        with self._writes.begin() as session:
            row = ApiKey(
                name=name,
                key_hash=hash_secret(key),
                prefix=key[:12],
                created_by=created_by,
                created_at=self._clock(),
                revoked_at=None,
            )
            session.add(row)
            session.flush()
            return IssuedApiKey(key, _key_view(row))

    def list_api_keys(self) -> list[ApiKeyView]:
        with self._sessions() as session:
            return [_key_view(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_api_key(self, key_id: int) -> ApiKeyView:
        """Raises: NotFound: no key with that id."""
        try:
            with self._writes.begin() as session:
                row = session.get(ApiKey, key_id)
                if row is None:
                    raise NotFound(f"no API key {key_id}")
                if row.revoked_at is None:
                    row.revoked_at = self._clock()
                return _key_view(row)
        finally:
            # After the commit: no verification from now on reads the key as active.
            API_KEYS.forget(self._key_scope, key_id)

    def cached_api_key(self, key: str) -> ApiKeyView | None:
        """The active API key ``key`` is, if it was verified in the last few seconds
        (``keycache.API_KEY_CACHE_SECONDS``); ``None`` when it must be looked up
        (``api_key_for``). Never does I/O, so an event loop may call it."""
        if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
            return None
        return API_KEYS.get(self._key_scope, hash_secret(key))

    def api_key_for(self, key: str) -> ApiKeyView:
        """The active API key ``key`` is.

        Raises:
            NotAuthenticated: unknown, malformed or revoked key.
        """
        if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
            raise NotAuthenticated("invalid API key")
        key_hash = hash_secret(key)
        if (cached := API_KEYS.get(self._key_scope, key_hash)) is not None:
            return cached
        generation = API_KEYS.generation
        with self._sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
        if row is None or row.revoked_at is not None or not secret_matches(key, row.key_hash):
            raise NotAuthenticated("invalid API key")
        view = _key_view(row)
        API_KEYS.put(self._key_scope, key_hash, view, generation)
        return view
