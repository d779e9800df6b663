"""Channel names and types."""

from __future__ import annotations

import pytest

from leadcast.protocol import ChannelType, channel_type, validate_channel_name
from leadcast.protocol.channels import (
    MAX_CHANNEL_NAME_LENGTH,
    MAX_USER_ID_LENGTH,
    SERVER_TO_USER_PREFIX,
    is_cache_channel,
    user_channel_id,
    validate_user_id,
)

CHARSET_PROBLEM = "channel name may only contain A-Z, a-z, 0-9, '_', '-', '=', '@', ',', '.', ';'"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("leads", ChannelType.PUBLIC),
        ("", ChannelType.PUBLIC),
        ("private-leads", ChannelType.PRIVATE),
        ("private-", ChannelType.PRIVATE),
        ("private-encrypted-leads", ChannelType.ENCRYPTED),
        ("private-encryptedleads", ChannelType.PRIVATE),
        ("presence-room", ChannelType.PRESENCE),
        ("#server-to-user-42", ChannelType.USER),
        ("cache-leads", ChannelType.PUBLIC),
        ("private-cache-leads", ChannelType.PRIVATE),
        ("private-encrypted-cache-leads", ChannelType.ENCRYPTED),
        ("presence-cache-room", ChannelType.PRESENCE),
        # Prefixes match exactly at the start.
        ("privateer", ChannelType.PUBLIC),
        ("foo-private-x", ChannelType.PUBLIC),
        ("private", ChannelType.PUBLIC),
        ("Private-x", ChannelType.PUBLIC),
        ("presence", ChannelType.PUBLIC),
        ("presences-x", ChannelType.PUBLIC),
        ("encrypted-x", ChannelType.PUBLIC),
        ("server-to-user-1", ChannelType.PUBLIC),
        ("x#server-to-user-1", ChannelType.PUBLIC),
    ],
)
def test_channel_type(name: str, kind: ChannelType) -> None:
    assert channel_type(name) is kind


@pytest.mark.parametrize(
    ("kind", "needs_auth", "client_events"),
    [
        (ChannelType.PUBLIC, False, False),
        (ChannelType.PRIVATE, True, True),
        (ChannelType.ENCRYPTED, True, False),
        (ChannelType.PRESENCE, True, True),
        (ChannelType.USER, False, False),
    ],
)
def test_channel_type_properties(kind: ChannelType, needs_auth: bool, client_events: bool) -> None:
    assert kind.needs_auth is needs_auth
    assert kind.allows_client_events is client_events


@pytest.mark.parametrize(
    ("name", "cached"),
    [
        ("cache-x", True),
        ("private-cache-x", True),
        ("private-encrypted-cache-x", True),
        ("presence-cache-x", True),
        ("cache", False),
        ("caches-x", False),
        ("x-cache-x", False),
        ("private-x", False),
        ("presence-x", False),
        ("private-encrypted-x", False),
        ("#server-to-user-cache-x", False),
    ],
)
def test_is_cache_channel(name: str, cached: bool) -> None:
    assert is_cache_channel(name) is cached


@pytest.mark.parametrize(
    ("name", "user_id"),
    [
        ("#server-to-user-42", "42"),
        ("#server-to-user-a-b", "a-b"),
        ("#server-to-user-", None),
        ("server-to-user-42", None),
        ("private-42", None),
    ],
)
def test_user_channel_id(name: str, user_id: str | None) -> None:
    assert user_channel_id(name) == user_id


def test_constants() -> None:
    assert MAX_CHANNEL_NAME_LENGTH == 200
    assert SERVER_TO_USER_PREFIX == "#server-to-user-"


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "leads",
        "ABCxyz0189_-=@,.;",
        "private-encrypted-cache-x",
        "presence-room.1;2,3@4=5",
        "x" * 200,
        "#server-to-user-42",
        "#server-to-user-user@example.com",
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_channel_name(name) is None


@pytest.mark.parametrize("name", [None, "", 1, b"leads", ["leads"]])
def test_name_must_be_a_non_empty_string(name: object) -> None:
    assert validate_channel_name(name) == "channel name must be a non-empty string"


def test_name_longer_than_200() -> None:
    assert validate_channel_name("x" * 201) == "channel name longer than 200 characters"
    assert validate_channel_name("#server-to-user-" + "u" * 185) == (
        "channel name longer than 200 characters"
    )


def test_custom_max_length() -> None:
    assert validate_channel_name("abcd", max_length=4) is None
    assert validate_channel_name("abcde", max_length=4) == "channel name longer than 4 characters"


@pytest.mark.parametrize(
    "name",
    [
        "a b",
        "a/b",
        "a:b",
        "a#b",
        "#leads",
        "a\nb",
        "leads\n",
        "é",
        "a+b",
        "a*b",
        "#server-to-user-",
        "#server-to-user-a#b",
        "#server-to-user-a b",
        "#server-to-user-é",
    ],
)
def test_invalid_characters(name: str) -> None:
    assert validate_channel_name(name) == CHARSET_PROBLEM


# -- signed-in user ids ------------------------------------------------------------------------

USER_ID_CHARSET_PROBLEM = CHARSET_PROBLEM.replace("channel name", "user id")


@pytest.mark.parametrize("user_id", ["42", "AZaz09_-=@,.;", "user@example.com", "u" * 184])
def test_valid_user_ids_name_valid_user_channels(user_id: str) -> None:
    assert validate_user_id(user_id) is None
    assert validate_channel_name(SERVER_TO_USER_PREFIX + user_id) is None


@pytest.mark.parametrize("user_id", ["jane doe/é", "a b", "a/b", "a#b", "é", "a:b", "42\n"])
def test_user_ids_outside_the_channel_charset(user_id: str) -> None:
    assert validate_user_id(user_id) == USER_ID_CHARSET_PROBLEM
    assert validate_channel_name(SERVER_TO_USER_PREFIX + user_id) == CHARSET_PROBLEM


@pytest.mark.parametrize("user_id", [None, "", 42, b"42", ["42"]])
def test_user_id_must_be_a_non_empty_string(user_id: object) -> None:
    assert validate_user_id(user_id) == "user id must be a non-empty string"


def test_user_id_length() -> None:
    assert MAX_USER_ID_LENGTH == MAX_CHANNEL_NAME_LENGTH - len(SERVER_TO_USER_PREFIX) == 184
    assert validate_user_id("u" * 185) == "user id longer than 184 characters"
    # an app may allow less, never more: the user's channel name must stay valid
    assert validate_user_id("u" * 129, max_length=128) == "user id longer than 128 characters"
    assert validate_user_id("u" * 128, max_length=128) is None
    assert validate_user_id("u" * 185, max_length=1000) == "user id longer than 184 characters"
