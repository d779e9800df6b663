"""Per-app webhook settings from TOML, and the client-event report sessions make for them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from leadcast.protocol import App, ConfigError, Publish, Session, apps_from_toml
from leadcast.protocol.apps import WEBHOOK_EVENTS, Webhook
from leadcast.protocol.session import ClientEventWebhook
from leadcast.protocol.signatures import channel_auth

HEAD = '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n'


def config_error(message: str) -> pytest.RaisesExc[ConfigError]:
    return pytest.raises(ConfigError, match=f"^{re.escape(message)}$")


def test_no_webhooks_by_default() -> None:
    [app] = apps_from_toml(HEAD)
    assert (app.webhooks, app.webhook_batching) == ((), False)
    assert not app.wants_webhook("channel_occupied")


def test_webhooks_as_an_array_of_tables() -> None:
    text = HEAD + (
        "webhook_batching = true\n"
        "[[apps.webhooks]]\n"
        'url = "https://example.com/pusher/webhooks?token=abc"\n'
        "[[apps.webhooks]]\n"
        'url = "http://127.0.0.1:8080/presence"\n'
        'event_types = ["member_added", "member_removed", "member_added"]\n'
    )
    [app] = apps_from_toml(text)
    assert app.webhook_batching is True
    assert app.webhooks == (
        Webhook("https://example.com/pusher/webhooks?token=abc", frozenset(WEBHOOK_EVENTS)),
        Webhook("http://127.0.0.1:8080/presence", frozenset({"member_added", "member_removed"})),
    )
    assert app.wants_webhook("client_event")
    assert set(WEBHOOK_EVENTS) == {
        "channel_occupied",
        "channel_vacated",
        "member_added",
        "member_removed",
        "client_event",
        "cache_miss",
    }


def test_webhooks_as_inline_tables() -> None:
    text = HEAD + 'webhooks = [{url = "http://h.test/a", event_types = ["cache_miss"]}]\n'
    [app] = apps_from_toml(text)
    assert app.webhooks == (Webhook("http://h.test/a", frozenset({"cache_miss"})),)
    assert app.wants_webhook("cache_miss")
    assert not app.wants_webhook("client_event")


W1 = "apps file: app #1: webhook #1"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            'webhooks = "http://h.test"',
            "apps file: app #1: webhooks must be a list of tables with a url",
        ),
        ("webhooks = [1]", f"{W1}: must be a table with a url, not 1"),
        ("webhooks = [{}]", f"{W1}: url is missing"),
        ("webhooks = [{url = 5}]", f"{W1}: url is missing"),
        ('webhooks = [{url = "http://h.test", secret = "x"}]', f"{W1}: unknown setting(s) secret"),
        (
            'webhooks = [{url = "http://h.test", event_types = "member_added"}]',
            f"{W1}: event_types must be a list of event names",
        ),
        (
            'webhooks = [{url = "http://h.test", event_types = [1]}]',
            f"{W1}: event_types must be a list of event names",
        ),
        (
            'webhooks = [{url = "http://h.test", event_types = []}]',
            f"{W1}: event_types must name at least one event",
        ),
        (
            'webhooks = [{url = "http://h.test", '
            'event_types = ["member_added", "subscription_count", "x"]}]',
            f"{W1}: unknown event type(s) subscription_count, x; choose from "
            "channel_occupied, channel_vacated, member_added, member_removed, client_event, "
            "cache_miss",
        ),
        (
            'webhooks = [{url = "ftp://h.test/x"}]',
            f"{W1}: url 'ftp://h.test/x' must be an absolute http:// or https:// URL",
        ),
        (
            'webhooks = [{url = "/hooks"}]',
            f"{W1}: url '/hooks' must be an absolute http:// or https:// URL",
        ),
        (
            'webhooks = [{url = "http:///path"}]',
            f"{W1}: url 'http:///path' must be an absolute http:// or https:// URL",
        ),
        (
            'webhooks = [{url = "http://h.test/a b"}]',
            f"{W1}: url must be 1-2000 printable characters, no spaces",
        ),
        (
            'webhooks = [{url = "http://h.test:99999/"}]',
            f"{W1}: url 'http://h.test:99999/' is malformed: Port out of range 0-65535",
        ),
        (
            'webhooks = [{url = "http://h.test/#top"}]',
            f"{W1}: url 'http://h.test/#top' must not have a #fragment",
        ),
        (
            'webhooks = [{url = "http://h.test/"}, {url = "http://h.test/"}]',
            "app '1': webhook url 'http://h.test/' is listed twice",
        ),
        ('webhook_batching = "yes"', "apps file: app #1: webhook_batching must be true or false"),
    ],
)
def test_invalid_webhook_settings_are_refused(setting: str, message: str) -> None:
    with config_error(message):
        apps_from_toml(HEAD + setting + "\n")


def test_check_validates_webhooks_of_an_app_built_in_code() -> None:
    app = App("1", "k", "s", webhooks=(Webhook("http://h.test", frozenset({"nope"})),))
    with pytest.raises(ConfigError, match=r"^app '1': webhook #1: unknown event type\(s\) nope;"):
        app.check()
    assert App("1", "k", "s", webhooks=(Webhook("https://h.test"),)).check().webhooks


# -- the session reports client events for the webhook ------------------------------------------


def client_event(
    session: Session, channel: str, data: Any, user_id: str | None = None
) -> list[Any]:
    app = session.app
    sub: dict[str, Any] = {"channel": channel}
    channel_data = None
    if user_id is not None:
        channel_data = json.dumps({"user_id": user_id})
        sub["channel_data"] = channel_data
    sub["auth"] = channel_auth(app.key, app.secret, session.socket_id, channel, channel_data)
    [effect] = session.receive(json.dumps({"event": "pusher:subscribe", "data": sub}), 0.0)
    session.subscribed(channel, effect.member)
    text = json.dumps({"event": "client-move", "channel": channel, "data": data})
    return session.receive(text, 0.0)


HOOKED = App(
    "1",
    "k",
    "s",
    client_events=True,
    webhooks=(Webhook("http://h.test", frozenset({"client_event"})),),
)


def test_client_event_reported_when_the_app_has_a_client_event_webhook() -> None:
    effects = client_event(Session(HOOKED, "1.2", 0.0), "private-a", {"x": 1})
    assert len(effects) == 2
    assert isinstance(effects[0], Publish)
    assert effects[1] == ClientEventWebhook("private-a", "client-move", '{"x":1}', "1.2", None)


def test_client_event_report_on_presence_carries_the_user_and_string_data() -> None:
    effects = client_event(Session(HOOKED, "1.2", 0.0), "presence-a", "plain", user_id="7")
    assert effects[1] == ClientEventWebhook("presence-a", "client-move", "plain", "1.2", "7")


@pytest.mark.parametrize(
    "webhooks",
    [(), (Webhook("http://h.test", frozenset({"channel_occupied", "member_added"})),)],
)
def test_no_client_event_report_without_a_client_event_webhook(
    webhooks: tuple[Webhook, ...],
) -> None:
    app = App("1", "k", "s", client_events=True, webhooks=webhooks)
    [effect] = client_event(Session(app, "1.2", 0.0), "private-a", {"x": 1})
    assert isinstance(effect, Publish)
