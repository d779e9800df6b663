"""Apps: credentials and per-app limits.

An app is read from the environment (``PUSHER_APP_ID``, ``PUSHER_APP_KEY``,
``PUSHER_APP_SECRET``) or from the ``[[apps]]`` tables of a TOML file. Loading checks
everything once and raises :class:`ConfigError` with a message naming the app and field.
Reading the file is the caller's job; this module parses text.

Webhooks come from a TOML file only: an app's ``webhooks`` is a list of tables with a ``url``
and, optionally, the ``event_types`` to send there (all of :data:`WEBHOOK_EVENTS` by default);
``webhook_batching`` puts many events in one request.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadcast.protocol.errors import ConfigError

__all__ = ["WEBHOOK_EVENTS", "App", "AppRegistry", "Webhook", "apps_from_env", "apps_from_toml"]

_ID = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_SECRET = re.compile(r"[\x21-\x7e]{1,200}")
#: Printable ASCII, no spaces: a URL as written, before any percent-decoding.
_URL = re.compile(r"[\x21-\x7e]{1,2000}")

#: The webhook event kinds, as named in the ``events`` of a webhook request.
WEBHOOK_EVENTS = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
)


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook endpoint of an app and the event kinds it takes."""

    url: str
    event_types: frozenset[str] = frozenset(WEBHOOK_EVENTS)

    def check(self, where: str) -> Webhook:
        """Validate the URL and event kinds; return ``self``.

        Raises:
            ConfigError: the URL is not an absolute http(s) URL, or a kind is unknown.
        """
        url = self.url
        if not _URL.fullmatch(url):
            raise ConfigError(f"{where}: url must be 1-2000 printable characters, no spaces")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as error:
            raise ConfigError(f"{where}: url {url!r} is malformed: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: url {url!r} must be an absolute http:// or https:// URL")
        if parts.fragment:
            raise ConfigError(f"{where}: url {url!r} must not have a #fragment")
        if not self.event_types:
            raise ConfigError(f"{where}: event_types must name at least one event")
        unknown = sorted(self.event_types - set(WEBHOOK_EVENTS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown event type(s) {', '.join(unknown)}; "
                f"choose from {', '.join(WEBHOOK_EVENTS)}"
            )
        return self


@dataclass(frozen=True, slots=True)
class App:
    """One app: credentials and limits. Times are in seconds, sizes in bytes."""

    id: str
    key: str
    secret: str
    enabled: bool = True
    client_events: bool = False
    max_connections: int = 0
    max_channels_per_connection: int = 1_000
    activity_timeout: int = 120
    pong_timeout: int = 30
    max_message_bytes: int = 10_240
    max_channels_per_event: int = 100
    max_batch_events: int = 10
    max_event_name_length: int = 200
    max_presence_members: int = 100
    max_presence_user_info_bytes: int = 1_024
    max_user_id_length: int = 128
    client_event_rate: int = 10
    watchlist_limit: int = 100
    cache_ttl: int = 1_800
    webhooks: tuple[Webhook, ...] = ()
    #: Many events per webhook request (``{"events": [...]}``) instead of one per request.
    webhook_batching: bool = False

    def wants_webhook(self, kind: str) -> bool:
        """Whether any of the app's webhooks takes events of ``kind``."""
        return any(kind in webhook.event_types for webhook in self.webhooks)

    def check(self) -> App:
        """Validate the fields; return ``self``.

        Raises:
            ConfigError: naming the first field that is wrong.
        """
        where = f"app {self.id!r}"
        if not _ID.fullmatch(self.id):
            raise ConfigError(f"{where}: id must be 1-100 of A-Z a-z 0-9 _ . -")
        if not _ID.fullmatch(self.key):
            raise ConfigError(f"{where}: key must be 1-100 of A-Z a-z 0-9 _ . -")
        if not _SECRET.fullmatch(self.secret):
            raise ConfigError(f"{where}: secret must be 1-200 printable characters, no spaces")
        for name, low, high in _LIMITS:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{where}: {name} must be between {low} and {high}")
        urls: set[str] = set()
        for index, webhook in enumerate(self.webhooks):
            webhook.check(f"{where}: webhook #{index + 1}")
            if webhook.url in urls:
                raise ConfigError(f"{where}: webhook url {webhook.url!r} is listed twice")
            urls.add(webhook.url)
        return self


_LIMITS = (
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
)
_FIELDS = {field.name: field for field in dataclasses.fields(App)}


def _webhooks_from_list(raw: Any, where: str) -> tuple[Webhook, ...]:
    """Webhooks from TOML: ``webhooks = [{url = "...", event_types = [...]}, ...]``."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: webhooks must be a list of tables with a url")
    webhooks = []
    for index, table in enumerate(raw):
        here = f"{where}: webhook #{index + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{here}: must be a table with a url, not {table!r:.40}")
        unknown = sorted(set(table) - {"url", "event_types"})
        if unknown:
            raise ConfigError(f"{here}: unknown setting(s) {', '.join(unknown)}")
        url = table.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{here}: url is missing")
        kinds = table.get("event_types", list(WEBHOOK_EVENTS))
        if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
            raise ConfigError(f"{here}: event_types must be a list of event names")
        webhooks.append(Webhook(url, frozenset(kinds)).check(here))
    return tuple(webhooks)


def _app_from_mapping(raw: Mapping[str, Any], where: str) -> App:
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in ("id", "key", "secret"):
        value = raw.get(name)
        if value is None or value == "":
            raise ConfigError(f"{where}: {name} is missing")
        values[name] = str(value)
    if "webhooks" in raw:
        values["webhooks"] = _webhooks_from_list(raw["webhooks"], where)
    for name, value in raw.items():
        if name in values:
            continue
        default = _FIELDS[name].default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {name} must be true or false")
        elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: {name} must be an integer")
        values[name] = value
    return App(**values).check()


def apps_from_env(env: Mapping[str, str]) -> list[App]:
    """The single app named by ``PUSHER_APP_ID``/``KEY``/``SECRET``.

    Raises:
        ConfigError: a variable is missing or malformed.
    """
    missing = [
        name
        for name in ("PUSHER_APP_ID", "PUSHER_APP_KEY", "PUSHER_APP_SECRET")
        if not env.get(name, "").strip()
    ]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}: set PUSHER_APP_ID, PUSHER_APP_KEY and "
            "PUSHER_APP_SECRET, or pass --apps-file"
        )
    raw = {
        "id": env["PUSHER_APP_ID"],
        "key": env["PUSHER_APP_KEY"],
        "secret": env["PUSHER_APP_SECRET"],
    }
    try:
        return [_app_from_mapping(raw, "PUSHER_APP_*")]
    except ConfigError as error:
        raise ConfigError(str(error).replace(f"app {raw['id']!r}", "PUSHER_APP_*")) from None


def apps_from_toml(text: str, source: str = "apps file") -> list[App]:
    """Apps from the ``[[apps]]`` tables of a TOML document.

    Raises:
        ConfigError: the TOML is invalid, an app is malformed, or ids or keys repeat.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None
    tables = document.get("apps")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{source}: needs at least one [[apps]] table")
    apps = []
    for index, table in enumerate(tables):
        where = f"{source}: app #{index + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table of settings, not {table!r:.40}")
        apps.append(_app_from_mapping(table, where))
    AppRegistry(apps)
    return apps


class AppRegistry:
    """Look apps up by id or key.

    Raises:
        ConfigError: two apps share an id or a key.
    """

    __slots__ = ("_by_id", "_by_key")

    def __init__(self, apps: Iterable[App]) -> None:
        self._by_id: dict[str, App] = {}
        self._by_key: dict[str, App] = {}
        for app in apps:
            if app.id in self._by_id:
                raise ConfigError(f"app id {app.id!r} is defined twice")
            if app.key in self._by_key:
                raise ConfigError(f"app key {app.key!r} is used by two apps")
            self._by_id[app.id] = app
            self._by_key[app.key] = app
        if not self._by_id:
            raise ConfigError("no apps configured")

    def by_id(self, app_id: str) -> App | None:
        return self._by_id.get(app_id)

    def by_key(self, key: str) -> App | None:
        return self._by_key.get(key)

    def __iter__(self) -> Iterator[App]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
