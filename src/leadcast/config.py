"""Settings of the lead service, read once from an environment mapping.

``Settings.from_env(os.environ)`` casts and validates every variable and raises
``SettingsError`` naming each one that is wrong. Nothing here reads the environment at import
time or keeps state: the composition root builds one ``Settings`` and passes it down.

| variable | default | meaning |
| --- | --- | --- |
| ``DATABASE_URL`` | ``sqlite:///leadcast.db`` | or ``postgresql://user@host/db`` |
| ``BROADCAST_DRIVER`` | ``pusher`` | ``pusher`` (signed Pusher HTTP API), ``log`` or ``null`` |
| ``PUSHER_APP_ID`` / ``_KEY`` / ``_SECRET`` | — | required by the ``pusher`` driver |
| ``PUSHER_APP_CLUSTER`` | ``mt1`` | hosted Pusher's cluster (``api-{cluster}.pusher.com``) |
| ``PUSHER_HOST`` | — | our ``leadcast realtime`` (or any Pusher-compatible) host |
| ``PUSHER_PORT`` | 443 / 80 | by scheme |
| ``PUSHER_SCHEME`` | ``https``, or ``http`` with ``PUSHER_HOST`` | ``http`` or ``https`` |
| ``LEADCAST_MAX_RECIPIENTS`` | 5 | PMs per lead, 1-100 |
| ``LEADCAST_CANDIDATE_LIMIT`` | 50 | most eligible PMs scored per lead, 0 = all |
| ``LEADCAST_TIER_EXCELLENT`` / ``_GOOD`` | 80 / 60 | score thresholds of the tiers |
| ``LEADCAST_RELAY_POLL_INTERVAL`` | 1.0 | seconds between outbox polls when not woken |
| ``LEADCAST_RELAY_GIVE_UP_AFTER`` | 86400 | seconds a row is retried before failing; 0 = never |
| ``LEADCAST_TOKEN_TTL_HOURS`` | 720 | lifetime of a login token |
| ``LEADCAST_LOGIN_ATTEMPTS_PER_EMAIL`` | 5 | login attempts per email per window |
| ``LEADCAST_LOGIN_ATTEMPTS_PER_CLIENT`` | 50 | login attempts per client address per window |
| ``LEADCAST_LOGIN_WINDOW`` | 900 | the login throttle's sliding window, in seconds |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from leadcast.leads.model import DistributionConfig, ScoringConfig

__all__ = [
    "DEVELOPMENT_DEFAULTS",
    "BroadcastDriver",
    "Settings",
    "SettingsError",
]

BroadcastDriver = Literal["pusher", "log", "null"]
Scheme = Literal["http", "https"]
_SCHEMES: tuple[Scheme, ...] = ("http", "https")
_DRIVERS: tuple[BroadcastDriver, ...] = ("pusher", "log", "null")
_T = TypeVar("_T", bound=str)
_CREDENTIAL = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_SECRET = re.compile(r"^[\x21-\x7e]{1,200}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")

DEVELOPMENT_DEFAULTS: Mapping[str, str] = {
    "BROADCAST_DRIVER": "pusher",
    "PUSHER_APP_ID": "leadcast",
    "PUSHER_APP_KEY": "leadcast-key",
    "PUSHER_APP_SECRET": "leadcast-secret-change-me",
    "PUSHER_HOST": "127.0.0.1",
    "PUSHER_PORT": "6001",
    "PUSHER_SCHEME": "http",
}
"""What ``leadcast up`` can lay under the environment: our own server on loopback."""


class SettingsError(ValueError):
    """One or more variables are missing or malformed; the message names each."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration of the lead service (API, distribution, relay)."""

    database_url: str = "sqlite:///leadcast.db"
    broadcast_driver: BroadcastDriver = "pusher"
    pusher_app_id: str = ""
    pusher_app_key: str = ""
    pusher_app_secret: str = ""
    pusher_app_cluster: str = "mt1"
    pusher_host: str | None = None
    pusher_port: int = 443
    pusher_scheme: Scheme = "https"
    max_recipients: int = 5
    candidate_limit: int | None = 50
    tier_excellent_at: int = 80
    tier_good_at: int = 60
    relay_poll_interval: float = 1.0
    relay_give_up_after: float = 86400.0
    token_ttl_hours: int = 720
    login_attempts_per_email: int = 5
    login_attempts_per_client: int = 50
    login_window: float = 900.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable of ``env`` (usually ``os.environ``).

        Raises:
            SettingsError: naming every variable that is missing or malformed.
        """
        reader = _Reader(env)
        driver = reader.choice("BROADCAST_DRIVER", _DRIVERS, "pusher")
        host = reader.text("PUSHER_HOST", "", _HOST, "a host name or address") or None
        default_scheme: Scheme = "http" if host else "https"
        scheme = reader.choice("PUSHER_SCHEME", _SCHEMES, default_scheme)
        port = reader.integer("PUSHER_PORT", 443 if scheme == "https" else 80, 1, 65535)
        credentials = {
            name: reader.text(name, "", pattern, what)
            for name, pattern, what in (
                ("PUSHER_APP_ID", _CREDENTIAL, "letters, digits, '-', '_' or '.'"),
                ("PUSHER_APP_KEY", _CREDENTIAL, "letters, digits, '-', '_' or '.'"),
                ("PUSHER_APP_SECRET", _SECRET, "printable characters without spaces"),
            )
        }
        if driver == "pusher":
            for name, value in credentials.items():
                if not value:
                    reader.problem(name, "is required when BROADCAST_DRIVER=pusher")
        recipients = reader.integer("LEADCAST_MAX_RECIPIENTS", 5, 1, 100)
        candidates = reader.integer("LEADCAST_CANDIDATE_LIMIT", 50, 0, 100_000)
        if 0 < candidates < recipients:
            reader.problem(
                "LEADCAST_CANDIDATE_LIMIT",
                f"must be 0 or at least LEADCAST_MAX_RECIPIENTS ({recipients})",
            )
        excellent = reader.integer("LEADCAST_TIER_EXCELLENT", 80, 1, 100)
        good = reader.integer("LEADCAST_TIER_GOOD", 60, 1, 100)
        if good >= excellent:
            reader.problem(
                "LEADCAST_TIER_GOOD", f"must be below LEADCAST_TIER_EXCELLENT ({excellent})"
            )
        settings = cls(
            database_url=reader.database_url(),
            broadcast_driver=driver,
            pusher_app_id=credentials["PUSHER_APP_ID"],
            pusher_app_key=credentials["PUSHER_APP_KEY"],
            pusher_app_secret=credentials["PUSHER_APP_SECRET"],
            pusher_app_cluster=reader.text(
                "PUSHER_APP_CLUSTER", "mt1", _CREDENTIAL, "letters, digits, '-', '_' or '.'"
            ),
            pusher_host=host,
            pusher_port=port,
            pusher_scheme=scheme,
            max_recipients=recipients,
            candidate_limit=candidates or None,
            tier_excellent_at=excellent,
            tier_good_at=good,
            relay_poll_interval=reader.number("LEADCAST_RELAY_POLL_INTERVAL", 1.0, 0.01, 3600.0),
            relay_give_up_after=reader.number(
                "LEADCAST_RELAY_GIVE_UP_AFTER", 86400.0, 0.0, 366 * 86400.0
            ),
            token_ttl_hours=reader.integer("LEADCAST_TOKEN_TTL_HOURS", 720, 1, 24 * 366),
            login_attempts_per_email=reader.integer(
                "LEADCAST_LOGIN_ATTEMPTS_PER_EMAIL", 5, 1, 10_000
            ),
            login_attempts_per_client=reader.integer(
                "LEADCAST_LOGIN_ATTEMPTS_PER_CLIENT", 50, 1, 100_000
            ),
            login_window=reader.number("LEADCAST_LOGIN_WINDOW", 900.0, 1.0, 86400.0),
        )
        reader.raise_problems()
        return settings

    @property
    def pusher_api_host(self) -> str:
        """Where the Pusher HTTP API lives: ``PUSHER_HOST``, else hosted Pusher's cluster."""
        return self.pusher_host or f"api-{self.pusher_app_cluster}.pusher.com"

    @property
    def pusher_base_url(self) -> str:
        """``scheme://host:port`` of the Pusher HTTP API."""
        return f"{self.pusher_scheme}://{self.pusher_api_host}:{self.pusher_port}"

    def distribution_config(self) -> DistributionConfig:
        """The pure domain's distribution settings."""
        return DistributionConfig(
            max_recipients=self.max_recipients,
            scoring=ScoringConfig(excellent_at=self.tier_excellent_at, good_at=self.tier_good_at),
        )


class _Reader:
    """Casts variables, collecting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[str] = []

    def problem(self, name: str, message: str) -> None:
        self._problems.append(f"{name} {message}")

    def raise_problems(self) -> None:
        if self._problems:
            raise SettingsError("invalid settings: " + "; ".join(self._problems))

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str, pattern: re.Pattern[str], what: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if not pattern.match(value):
            self.problem(name, f"must be {what}, got {value[:40]!r}")
            return default
        return value

    def choice(self, name: str, choices: tuple[_T, ...], default: _T) -> _T:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {value[:40]!r}")
            return default
        return cast(_T, value.lower())

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problem(name, f"must be an integer, got {value[:40]!r}")
            return default
        if not low <= number <= high:
            self.problem(name, f"must be between {low} and {high}, got {number}")
            return default
        return number

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.problem(name, f"must be a number, got {value[:40]!r}")
            return default
        if not low <= number <= high:
            self.problem(name, f"must be between {low} and {high}, got {number}")
            return default
        return number

    def database_url(self) -> str:
        value = self._raw("DATABASE_URL") or "sqlite:///leadcast.db"
        scheme = value.partition("://")[0].lower()
        if "://" not in value or scheme.split("+")[0] not in ("sqlite", "postgresql", "postgres"):
            self.problem(
                "DATABASE_URL",
                "must look like sqlite:///path.db or postgresql://user@host/db, "
                f"got {value.split('@')[-1][:60]!r}",
            )
            return "sqlite:///leadcast.db"
        return value
