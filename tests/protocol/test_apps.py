"""Apps: credentials and per-app limits, from the environment or TOML."""

from __future__ import annotations

import dataclasses
import re

import pytest

from leadcast.protocol import (
    App,
    AppRegistry,
    ConfigError,
    PusherError,
    apps_from_env,
    apps_from_toml,
)

ENV = {"PUSHER_APP_ID": "1001", "PUSHER_APP_KEY": "app-key", "PUSHER_APP_SECRET": "app-secret"}

# Every limit with its documented range.
LIMITS = [
    ("max_connections", 0, 10_000_000),
    ("max_channels_per_connection", 1, 100_000),
    ("activity_timeout", 1, 3_600),
    ("pong_timeout", 1, 600),
    ("max_message_bytes", 1_024, 1_048_576),
    ("max_channels_per_event", 1, 1_000),
    ("max_batch_events", 1, 1_000),
    ("max_event_name_length", 1, 1_000),
    ("max_presence_members", 1, 100_000),
    ("max_presence_user_info_bytes", 2, 65_536),
    ("max_user_id_length", 1, 1_000),
    ("client_event_rate", 1, 10_000),
    ("watchlist_limit", 0, 10_000),
    ("cache_ttl", 1, 86_400),
]


def config_error(message: str) -> pytest.RaisesExc[ConfigError]:
    """Expect a ConfigError with exactly ``message``."""
    return pytest.raises(ConfigError, match=f"^{re.escape(message)}$")


# -- App ---------------------------------------------------------------------------------------


def test_documented_defaults() -> None:
    app = App("1001", "app-key", "app-secret")
    assert dataclasses.asdict(app) == {
        "id": "1001",
        "key": "app-key",
        "secret": "app-secret",
        "enabled": True,
        "client_events": False,
        "max_connections": 0,
        "max_channels_per_connection": 1_000,
        "activity_timeout": 120,
        "pong_timeout": 30,
        "max_message_bytes": 10_240,
        "max_channels_per_event": 100,
        "max_batch_events": 10,
        "max_event_name_length": 200,
        "max_presence_members": 100,
        "max_presence_user_info_bytes": 1_024,
        "max_user_id_length": 128,
        "client_event_rate": 10,
        "watchlist_limit": 100,
        "cache_ttl": 1_800,
        "webhooks": (),
        "webhook_batching": False,
    }


def test_check_returns_the_app() -> None:
    app = App("a.b-c_1", "K.e-y_9", "!~printable~!")
    assert app.check() is app


def test_app_is_frozen() -> None:
    app = App("1", "k", "s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.id = "2"  # type: ignore[misc]


@pytest.mark.parametrize("value", ["", "a b", "a/b", "é", "x" * 101, "a:b"])
def test_check_id(value: str) -> None:
    with config_error(f"app {value!r}: id must be 1-100 of A-Z a-z 0-9 _ . -"):
        App(value, "key", "secret").check()


@pytest.mark.parametrize("value", ["", "a b", "a/b", "é", "x" * 101, "k#"])
def test_check_key(value: str) -> None:
    with config_error("app '1': key must be 1-100 of A-Z a-z 0-9 _ . -"):
        App("1", value, "secret").check()


@pytest.mark.parametrize("value", ["", "has space", "tab\tx", "x" * 201, "é", "nl\n"])
def test_check_secret(value: str) -> None:
    with config_error("app '1': secret must be 1-200 printable characters, no spaces"):
        App("1", "key", value).check()


def test_id_key_and_secret_at_their_maximum_length() -> None:
    App("i" * 100, "k" * 100, "s" * 200).check()


@pytest.mark.parametrize(("name", "low", "high"), LIMITS)
def test_limits_accept_their_range(name: str, low: int, high: int) -> None:
    for value in (low, high):
        app = dataclasses.replace(App("1", "k", "s"), **{name: value})
        assert app.check() is app


@pytest.mark.parametrize(("name", "low", "high"), LIMITS)
def test_limits_reject_outside_their_range(name: str, low: int, high: int) -> None:
    for value in (low - 1, high + 1):
        app = dataclasses.replace(App("1", "k", "s"), **{name: value})
        with config_error(f"app '1': {name} must be between {low} and {high}"):
            app.check()


# -- apps_from_env -----------------------------------------------------------------------------


def test_from_env() -> None:
    assert apps_from_env(ENV) == [App("1001", "app-key", "app-secret")]


def test_from_env_ignores_other_variables() -> None:
    assert apps_from_env({**ENV, "PUSHER_APP_CLUSTER": "mt1", "PATH": "/bin"}) == [
        App("1001", "app-key", "app-secret")
    ]


@pytest.mark.parametrize("name", ["PUSHER_APP_ID", "PUSHER_APP_KEY", "PUSHER_APP_SECRET"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_from_env_missing(name: str, value: str | None) -> None:
    env = dict(ENV)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with config_error(
        f"missing {name}: set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, "
        "or pass --apps-file"
    ):
        apps_from_env(env)


def test_from_env_names_every_missing_variable() -> None:
    with config_error(
        "missing PUSHER_APP_ID, PUSHER_APP_SECRET: set PUSHER_APP_ID, PUSHER_APP_KEY and "
        "PUSHER_APP_SECRET, or pass --apps-file"
    ):
        apps_from_env({"PUSHER_APP_KEY": "k"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**ENV, "PUSHER_APP_ID": "a b"}, "PUSHER_APP_*: id must be 1-100 of A-Z a-z 0-9 _ . -"),
        ({**ENV, "PUSHER_APP_KEY": "k/y"}, "PUSHER_APP_*: key must be 1-100 of A-Z a-z 0-9 _ . -"),
        (
            {**ENV, "PUSHER_APP_SECRET": "two words"},
            "PUSHER_APP_*: secret must be 1-200 printable characters, no spaces",
        ),
    ],
)
def test_from_env_malformed(env: dict[str, str], message: str) -> None:
    with config_error(message):
        apps_from_env(env)


# -- apps_from_toml ----------------------------------------------------------------------------

FULL_TOML = """
[[apps]]
id = "1001"
key = "app-key"
secret = "app-secret"
enabled = false
client_events = true
max_connections = 5
max_channels_per_connection = 20
activity_timeout = 60
pong_timeout = 10
max_message_bytes = 2048
max_channels_per_event = 3
max_batch_events = 4
max_event_name_length = 50
max_presence_members = 7
max_presence_user_info_bytes = 64
max_user_id_length = 16
client_event_rate = 2
watchlist_limit = 0
cache_ttl = 5

[[apps]]
id = 1002
key = "other-key"
secret = "other-secret"
"""


def test_from_toml_reads_every_setting() -> None:
    first, second = apps_from_toml(FULL_TOML)
    assert first == App(
        "1001",
        "app-key",
        "app-secret",
        enabled=False,
        client_events=True,
        max_connections=5,
        max_channels_per_connection=20,
        activity_timeout=60,
        pong_timeout=10,
        max_message_bytes=2048,
        max_channels_per_event=3,
        max_batch_events=4,
        max_event_name_length=50,
        max_presence_members=7,
        max_presence_user_info_bytes=64,
        max_user_id_length=16,
        client_event_rate=2,
        watchlist_limit=0,
        cache_ttl=5,
    )
    assert second == App("1002", "other-key", "other-secret")


def toml_app(extra: str = "", *, id: str = '"1"', key: str = '"k"', secret: str = '"s"') -> str:
    return f"[[apps]]\nid = {id}\nkey = {key}\nsecret = {secret}\n{extra}\n"


def test_from_toml_invalid_toml() -> None:
    with pytest.raises(ConfigError, match=r"^apps\.toml: invalid TOML: "):
        apps_from_toml("[[apps]\nid=", "apps.toml")


@pytest.mark.parametrize("text", ["", "title = 'x'", "apps = []", "apps = 1", "[apps]\nid = '1'"])
def test_from_toml_needs_apps(text: str) -> None:
    with config_error("apps file: needs at least one [[apps]] table"):
        apps_from_toml(text)


def test_from_toml_names_the_source() -> None:
    with config_error("/etc/leadcast.toml: needs at least one [[apps]] table"):
        apps_from_toml("", "/etc/leadcast.toml")


def test_from_toml_unknown_settings() -> None:
    with config_error("apps file: app #1: unknown setting(s) colour, speed"):
        apps_from_toml(toml_app("speed = 1\ncolour = 'red'"))


@pytest.mark.parametrize("field", ["id", "key", "secret"])
@pytest.mark.parametrize("value", [None, '""'])
def test_from_toml_missing_credentials(field: str, value: str | None) -> None:
    lines = {"id": '"1"', "key": '"k"', "secret": '"s"'}
    if value is None:
        del lines[field]
    else:
        lines[field] = value
    text = "[[apps]]\n" + "".join(f"{name} = {raw}\n" for name, raw in lines.items())
    with config_error(f"apps file: app #1: {field} is missing"):
        apps_from_toml(text)


def test_from_toml_names_the_app_by_position() -> None:
    text = toml_app() + toml_app(id='"2"', key='"k2"') + toml_app("pong_timeout = 0", id='"3"')
    with config_error("app '3': pong_timeout must be between 1 and 600"):
        apps_from_toml(text)
    with config_error("apps file: app #3: key is missing"):
        apps_from_toml(toml_app() + toml_app(id='"2"', key='"k2"') + "[[apps]]\nid='3'\n")


@pytest.mark.parametrize("field", ["enabled", "client_events"])
@pytest.mark.parametrize("value", ["1", '"true"', "0"])
def test_from_toml_booleans(field: str, value: str) -> None:
    with config_error(f"apps file: app #1: {field} must be true or false"):
        apps_from_toml(toml_app(f"{field} = {value}"))


@pytest.mark.parametrize("value", ["true", "false", '"10"', "1.5", "[1]"])
def test_from_toml_integers(value: str) -> None:
    with config_error("apps file: app #1: max_connections must be an integer"):
        apps_from_toml(toml_app(f"max_connections = {value}"))


def test_from_toml_out_of_range() -> None:
    with config_error("app '1': cache_ttl must be between 1 and 86400"):
        apps_from_toml(toml_app("cache_ttl = 0"))


def test_from_toml_numbers_as_credentials_become_strings() -> None:
    [app] = apps_from_toml(toml_app(id="42", key="7", secret="12345"))
    assert (app.id, app.key, app.secret) == ("42", "7", "12345")


def test_from_toml_duplicate_id() -> None:
    with config_error("app id '1' is defined twice"):
        apps_from_toml(toml_app(key='"a"') + toml_app(key='"b"'))


def test_from_toml_duplicate_key() -> None:
    with config_error("app key 'k' is used by two apps"):
        apps_from_toml(toml_app(id='"1"') + toml_app(id='"2"'))


def test_from_toml_refuses_an_entry_that_is_not_a_table() -> None:
    # "Loading checks everything once and raises ConfigError": a stray entry in the apps
    # array is a malformed app definition, not something to skip silently.
    text = 'apps = [{id = "1", key = "k", secret = "s"}, "junk"]'
    with pytest.raises(ConfigError, match="#2"):
        apps_from_toml(text)


# -- AppRegistry -------------------------------------------------------------------------------


def test_registry_lookups() -> None:
    first, second = App("1", "k1", "s"), App("2", "k2", "s")
    registry = AppRegistry([first, second])
    assert registry.by_id("1") is first
    assert registry.by_id("2") is second
    assert registry.by_key("k1") is first
    assert registry.by_key("k2") is second
    assert registry.by_id("k1") is None
    assert registry.by_key("1") is None
    assert registry.by_id("") is None
    assert list(registry) == [first, second]
    assert len(registry) == 2


def test_registry_needs_an_app() -> None:
    with config_error("no apps configured"):
        AppRegistry([])


def test_registry_refuses_duplicates() -> None:
    with config_error("app id '1' is defined twice"):
        AppRegistry([App("1", "a", "s"), App("1", "b", "s")])
    with config_error("app key 'a' is used by two apps"):
        AppRegistry([App("1", "a", "s"), App("2", "a", "s")])


def test_config_error_is_a_pusher_error() -> None:
    assert issubclass(ConfigError, PusherError)
