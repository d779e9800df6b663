"""Settings.from_env: defaults, casting, and errors naming every bad variable."""

from __future__ import annotations

import pytest

from leadcast.config import DEVELOPMENT_DEFAULTS, Settings, SettingsError
from leadcast.leads.model import DistributionConfig, ScoringConfig

CREDENTIALS = {"PUSHER_APP_ID": "app", "PUSHER_APP_KEY": "key", "PUSHER_APP_SECRET": "secret"}


def test_defaults() -> None:
    settings = Settings.from_env(CREDENTIALS)
    assert settings.database_url == "sqlite:///leadcast.db"
    assert settings.broadcast_driver == "pusher"
    assert settings.pusher_base_url == "https://api-mt1.pusher.com:443"
    assert settings.max_recipients == 5
    assert settings.candidate_limit == 50
    assert (settings.tier_excellent_at, settings.tier_good_at) == (80, 60)
    assert settings.relay_poll_interval == 1.0
    assert settings.distribution_config() == DistributionConfig(5, ScoringConfig(80, 60))


def test_everything_set() -> None:
    settings = Settings.from_env(
        CREDENTIALS
        | {
            "DATABASE_URL": "postgresql://leadcast@db/leadcast",
            "BROADCAST_DRIVER": "LOG",
            "PUSHER_APP_CLUSTER": "eu",
            "PUSHER_HOST": "realtime.internal",
            "PUSHER_PORT": "6001",
            "PUSHER_SCHEME": "https",
            "LEADCAST_MAX_RECIPIENTS": "3",
            "LEADCAST_CANDIDATE_LIMIT": "0",
            "LEADCAST_TIER_EXCELLENT": "90",
            "LEADCAST_TIER_GOOD": "70",
            "LEADCAST_RELAY_POLL_INTERVAL": "0.25",
            "LEADCAST_TOKEN_TTL_HOURS": "12",
            "LEADCAST_LOGIN_ATTEMPTS_PER_EMAIL": "3",
            "LEADCAST_LOGIN_ATTEMPTS_PER_CLIENT": "30",
            "LEADCAST_LOGIN_WINDOW": "60",
        }
    )
    assert (
        settings.login_attempts_per_email,
        settings.login_attempts_per_client,
        settings.login_window,
    ) == (3, 30, 60.0)
    assert settings.database_url == "postgresql://leadcast@db/leadcast"
    assert settings.broadcast_driver == "log"
    assert settings.pusher_base_url == "https://realtime.internal:6001"
    assert settings.distribution_config() == DistributionConfig(3, ScoringConfig(90, 70))
    assert (settings.relay_poll_interval, settings.token_ttl_hours) == (0.25, 12)
    assert settings.candidate_limit is None


def test_a_host_defaults_to_plain_http() -> None:
    settings = Settings.from_env(CREDENTIALS | {"PUSHER_HOST": "127.0.0.1"})
    assert settings.pusher_base_url == "http://127.0.0.1:80"


def test_development_defaults_point_at_our_own_server() -> None:
    settings = Settings.from_env(DEVELOPMENT_DEFAULTS)
    assert settings.pusher_base_url == "http://127.0.0.1:6001"
    assert settings.pusher_app_key == "leadcast-key"


def test_log_and_null_need_no_credentials() -> None:
    assert Settings.from_env({"BROADCAST_DRIVER": "null"}).broadcast_driver == "null"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ["PUSHER_APP_ID", "PUSHER_APP_KEY", "PUSHER_APP_SECRET"]),
        (CREDENTIALS | {"BROADCAST_DRIVER": "redis"}, ["BROADCAST_DRIVER"]),
        (CREDENTIALS | {"PUSHER_PORT": "70000"}, ["PUSHER_PORT"]),
        (CREDENTIALS | {"PUSHER_PORT": "http"}, ["PUSHER_PORT"]),
        (CREDENTIALS | {"PUSHER_SCHEME": "ftp"}, ["PUSHER_SCHEME"]),
        (CREDENTIALS | {"PUSHER_HOST": "bad host/"}, ["PUSHER_HOST"]),
        (CREDENTIALS | {"PUSHER_APP_KEY": "has space"}, ["PUSHER_APP_KEY"]),
        (CREDENTIALS | {"LEADCAST_MAX_RECIPIENTS": "0"}, ["LEADCAST_MAX_RECIPIENTS"]),
        (CREDENTIALS | {"LEADCAST_TIER_GOOD": "85"}, ["LEADCAST_TIER_GOOD"]),
        (CREDENTIALS | {"LEADCAST_CANDIDATE_LIMIT": "3"}, ["LEADCAST_CANDIDATE_LIMIT"]),
        (CREDENTIALS | {"LEADCAST_RELAY_POLL_INTERVAL": "soon"}, ["LEADCAST_RELAY_POLL_INTERVAL"]),
        (CREDENTIALS | {"DATABASE_URL": "mysql://u@h/db"}, ["DATABASE_URL"]),
        (CREDENTIALS | {"DATABASE_URL": "leadcast.db"}, ["DATABASE_URL"]),
        (
            {"PUSHER_APP_ID": "a", "PUSHER_APP_KEY": "k", "LEADCAST_MAX_RECIPIENTS": "x"},
            ["PUSHER_APP_SECRET", "LEADCAST_MAX_RECIPIENTS"],
        ),
    ],
)
def test_errors_name_every_bad_variable(env: dict[str, str], named: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    for name in named:
        assert name in str(caught.value)


def test_a_database_password_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(CREDENTIALS | {"DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(CREDENTIALS)
    with pytest.raises(AttributeError):
        settings.max_recipients = 9  # type: ignore[misc]
