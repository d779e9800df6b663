"""Wire messages: parsing client messages, encoding server messages."""

from __future__ import annotations

import json

import pytest

from leadcast.protocol.messages import (
    ClientMessage,
    InvalidMessage,
    encode,
    encode_error,
    encode_event,
    parse,
)

# -- parse -------------------------------------------------------------------------------------


def test_parse_full_message() -> None:
    text = '{"event":"client-x","channel":"private-a","data":{"k":[1,2]}}'
    assert parse(text) == ClientMessage("client-x", "private-a", {"k": [1, 2]})


def test_parse_event_only() -> None:
    assert parse('{"event":"pusher:ping"}') == ClientMessage("pusher:ping", None, None)


def test_parse_keeps_string_data_and_ignores_unknown_keys() -> None:
    text = '{"event":"e","data":"{\\"a\\":1}","extra":true,"channel":null}'
    assert parse(text) == ClientMessage("e", None, '{"a":1}')


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "message is not valid JSON"),
        ("{", "message is not valid JSON"),
        ("not json", "message is not valid JSON"),
        ("[1, 2]", "message must be a JSON object"),
        ('"text"', "message must be a JSON object"),
        ("42", "message must be a JSON object"),
        ("null", "message must be a JSON object"),
        ("{}", "message needs a string 'event'"),
        ('{"event":""}', "message needs a string 'event'"),
        ('{"event":1}', "message needs a string 'event'"),
        ('{"event":null}', "message needs a string 'event'"),
        ('{"event":["e"]}', "message needs a string 'event'"),
        ('{"event":"e","channel":1}', "'channel' must be a string"),
        ('{"event":"e","channel":["a"]}', "'channel' must be a string"),
    ],
)
def test_parse_rejects(text: str, problem: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(text)
    assert str(caught.value) == problem


def test_invalid_message_is_a_value_error() -> None:
    assert issubclass(InvalidMessage, ValueError)


# -- ClientMessage.data_object -----------------------------------------------------------------


def test_data_object_from_object() -> None:
    assert ClientMessage("e", None, {"channel": "a"}).data_object() == {"channel": "a"}


def test_data_object_from_json_string() -> None:
    assert ClientMessage("e", None, '{"channel":"a"}').data_object() == {"channel": "a"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("not json", "pusher:subscribe: data is not valid JSON"),
        ("", "pusher:subscribe: data is not valid JSON"),
        ("[1]", "pusher:subscribe: data must be an object"),
        ('"str"', "pusher:subscribe: data must be an object"),
        (None, "pusher:subscribe: data must be an object"),
        ([1], "pusher:subscribe: data must be an object"),
        (3, "pusher:subscribe: data must be an object"),
    ],
)
def test_data_object_rejects(data: object, problem: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        ClientMessage("pusher:subscribe", None, data).data_object()
    assert str(caught.value) == problem


# -- encoders ----------------------------------------------------------------------------------


def test_encode_event_only() -> None:
    assert encode("pusher:pong") == '{"event":"pusher:pong"}'


def test_encode_double_encodes_object_data() -> None:
    text = encode("pusher:connection_established", {"socket_id": "1.2", "activity_timeout": 120})
    assert text == (
        '{"event":"pusher:connection_established",'
        '"data":"{\\"socket_id\\":\\"1.2\\",\\"activity_timeout\\":120}"}'
    )
    assert json.loads(json.loads(text)["data"]) == {"socket_id": "1.2", "activity_timeout": 120}


def test_encode_string_data_is_sent_as_that_string() -> None:
    assert encode("e", "{}", "ch") == '{"event":"e","channel":"ch","data":"{}"}'


def test_encode_channel_without_data() -> None:
    assert encode("pusher:cache_miss", None, "cache-x") == (
        '{"event":"pusher:cache_miss","channel":"cache-x"}'
    )


def test_encode_empty_object_data() -> None:
    assert encode("pusher:ping", {}) == '{"event":"pusher:ping","data":"{}"}'


def test_encode_keeps_non_ascii_and_escapes_json() -> None:
    text = encode("e", {"name": 'Zoë "Z" ☃'}, "c")
    assert text == '{"event":"e","channel":"c","data":"{\\"name\\":\\"Zoë \\\\\\"Z\\\\\\" ☃\\"}"}'
    assert json.loads(json.loads(text)["data"]) == {"name": 'Zoë "Z" ☃'}


def test_encode_event_with_string_data() -> None:
    assert encode_event("new-lead", "leads", '{"id":1}') == (
        '{"event":"new-lead","channel":"leads","data":"{\\"id\\":1}"}'
    )


def test_encode_event_sends_non_string_data_as_a_json_string() -> None:
    # docs/realtime.md: client event data arrives as a JSON string whatever its shape.
    assert encode_event("client-x", "private-a", {"id": "é"}) == (
        '{"event":"client-x","channel":"private-a","data":"{\\"id\\":\\"é\\"}"}'
    )
    assert encode_event("client-x", "private-a", [1, 2]) == (
        '{"event":"client-x","channel":"private-a","data":"[1,2]"}'
    )
    assert encode_event("client-x", "private-a", None) == (
        '{"event":"client-x","channel":"private-a","data":"null"}'
    )


def test_encode_event_with_user_id() -> None:
    assert encode_event("client-x", "presence-a", "hi", "u1") == (
        '{"event":"client-x","channel":"presence-a","data":"hi","user_id":"u1"}'
    )


def test_encode_error_with_and_without_code() -> None:
    assert encode_error("bad", 4009) == (
        '{"event":"pusher:error","data":"{\\"code\\":4009,\\"message\\":\\"bad\\"}"}'
    )
    assert json.loads(json.loads(encode_error("bad"))["data"]) == {"code": None, "message": "bad"}
