"""RFC 6455 framing: FrameReader (client frames in) and the server-side encoders."""

from __future__ import annotations

import struct

import pytest

from leadcast.websocket import (
    FrameReader,
    Message,
    Opcode,
    WebSocketError,
    accept_key,
    encode_close,
    encode_frame,
    encode_text,
)

MASK = b"\x37\xfa\x21\x3d"


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes = MASK,
) -> bytes:
    """A client frame built independently of the code under test."""
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = bytes((first, mask_bit | 126)) + struct.pack("!H", length)
    else:
        header = bytes((first, mask_bit | 127)) + struct.pack("!Q", length)
    if not masked:
        return header + payload
    body = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return header + mask + body


def header_only(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """A masked frame header (with its mask) announcing ``length`` bytes, without the payload."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes((first, 0x80 | length)) + MASK
    if length < 1 << 16:
        return bytes((first, 0x80 | 126)) + struct.pack("!H", length) + MASK
    return bytes((first, 0x80 | 127)) + struct.pack("!Q", length) + MASK


def feed_error(reader: FrameReader, data: bytes) -> WebSocketError:
    with pytest.raises(WebSocketError) as caught:
        reader.feed(data)
    return caught.value


# -- data frames -------------------------------------------------------------------------------


def test_masked_text_frame() -> None:
    reader = FrameReader(1024)
    assert reader.feed(client_frame(Opcode.TEXT, b"hello")) == [
        Message(Opcode.TEXT, b"hello", "hello")
    ]


def test_text_message_defaults() -> None:
    [message] = FrameReader(1024).feed(client_frame(Opcode.TEXT, "héllo ☃".encode()))
    assert message.opcode is Opcode.TEXT
    assert message.payload == "héllo ☃".encode()
    assert message.text == "héllo ☃"
    assert message.code == 1005


def test_empty_text_frame() -> None:
    assert FrameReader(1024).feed(client_frame(Opcode.TEXT, b"")) == [Message(Opcode.TEXT, b"", "")]


def test_masked_binary_frame_is_returned_without_text() -> None:
    payload = bytes(range(256)) * 2
    [message] = FrameReader(1024).feed(client_frame(Opcode.BINARY, payload))
    assert message == Message(Opcode.BINARY, payload, None)


def test_binary_may_hold_invalid_utf8() -> None:
    assert FrameReader(1024).feed(client_frame(Opcode.BINARY, b"\xff\xfe")) == [
        Message(Opcode.BINARY, b"\xff\xfe")
    ]


@pytest.mark.parametrize("length", [125, 126, 127, 1000, 65535])
def test_7_and_16_bit_lengths(length: int) -> None:
    payload = (b"abcdefghij" * (length // 10 + 1))[:length]
    frame = client_frame(Opcode.TEXT, payload)
    expected_marker = 126 if length >= 126 else length
    assert frame[1] & 0x7F == expected_marker
    assert FrameReader(70_000).feed(frame) == [Message(Opcode.TEXT, payload, payload.decode())]


@pytest.mark.parametrize("length", [65536, 70_001])
def test_64_bit_lengths(length: int) -> None:
    payload = bytes(index % 251 for index in range(length))
    frame = client_frame(Opcode.BINARY, payload)
    assert frame[1] & 0x7F == 127
    assert FrameReader(100_000).feed(frame) == [Message(Opcode.BINARY, payload)]


def test_several_frames_in_one_feed() -> None:
    data = client_frame(Opcode.TEXT, b"one") + client_frame(Opcode.TEXT, b"two")
    assert FrameReader(1024).feed(data) == [
        Message(Opcode.TEXT, b"one", "one"),
        Message(Opcode.TEXT, b"two", "two"),
    ]


def test_mask_is_applied_per_frame() -> None:
    data = client_frame(Opcode.TEXT, b"same", mask=b"\x00\x00\x00\x00") + client_frame(
        Opcode.TEXT, b"same", mask=b"\xff\x01\x80\x7f"
    )
    assert [m.text for m in FrameReader(1024).feed(data)] == ["same", "same"]


# -- partial input -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 5, 125, 126, 300])
def test_byte_by_byte(length: int) -> None:
    payload = (b"0123456789" * 31)[:length]
    frame = client_frame(Opcode.TEXT, payload)
    reader = FrameReader(1024)
    for byte in frame[:-1]:
        assert reader.feed(bytes((byte,))) == []
    assert reader.feed(frame[-1:]) == [Message(Opcode.TEXT, payload, payload.decode())]
    assert reader.feed(b"") == []


def test_64_bit_header_byte_by_byte_then_payload_in_chunks() -> None:
    payload = b"z" * 65_540
    frame = client_frame(Opcode.TEXT, payload)
    reader = FrameReader(100_000)
    for byte in frame[:14]:  # 2 + 8 length bytes + 4 mask bytes
        assert reader.feed(bytes((byte,))) == []
    rest = frame[14:]
    assert reader.feed(rest[:30_000]) == []
    assert reader.feed(rest[30_000:-1]) == []
    assert reader.feed(rest[-1:]) == [Message(Opcode.TEXT, payload, payload.decode())]


def test_complete_frame_then_partial_frame_in_one_feed() -> None:
    second = client_frame(Opcode.TEXT, b"second")
    reader = FrameReader(1024)
    assert reader.feed(client_frame(Opcode.TEXT, b"first") + second[:3]) == [
        Message(Opcode.TEXT, b"first", "first")
    ]
    assert reader.feed(second[3:]) == [Message(Opcode.TEXT, b"second", "second")]


# -- fragmentation -----------------------------------------------------------------------------


def test_fragmented_text_with_interleaved_ping() -> None:
    reader = FrameReader(1024)
    assert reader.feed(client_frame(Opcode.TEXT, b"Hel", fin=False)) == []
    assert reader.feed(client_frame(Opcode.PING, b"are you there")) == [
        Message(Opcode.PING, b"are you there")
    ]
    assert reader.feed(client_frame(Opcode.CONTINUATION, b"lo ", fin=False)) == []
    assert reader.feed(client_frame(Opcode.PONG, b"")) == [Message(Opcode.PONG, b"")]
    assert reader.feed(client_frame(Opcode.CONTINUATION, b"world")) == [
        Message(Opcode.TEXT, b"Hello world", "Hello world")
    ]


def test_fragmented_message_in_a_single_feed() -> None:
    data = (
        client_frame(Opcode.TEXT, b"a", fin=False)
        + client_frame(Opcode.PING, b"p")
        + client_frame(Opcode.CONTINUATION, b"b")
        + client_frame(Opcode.TEXT, b"c")
    )
    assert FrameReader(1024).feed(data) == [
        Message(Opcode.PING, b"p"),
        Message(Opcode.TEXT, b"ab", "ab"),
        Message(Opcode.TEXT, b"c", "c"),
    ]


def test_fragmented_binary() -> None:
    data = client_frame(Opcode.BINARY, b"\x00\x01", fin=False) + client_frame(
        Opcode.CONTINUATION, b"\xff"
    )
    assert FrameReader(1024).feed(data) == [Message(Opcode.BINARY, b"\x00\x01\xff")]


def test_utf8_character_split_across_fragments() -> None:
    encoded = "☃".encode()
    data = client_frame(Opcode.TEXT, encoded[:1], fin=False) + client_frame(
        Opcode.CONTINUATION, encoded[1:]
    )
    assert FrameReader(1024).feed(data) == [Message(Opcode.TEXT, encoded, "☃")]


def test_fragment_size_resets_after_each_message() -> None:
    reader = FrameReader(10)
    for _ in range(3):
        data = client_frame(Opcode.TEXT, b"123456", fin=False) + client_frame(
            Opcode.CONTINUATION, b"7890"
        )
        assert reader.feed(data) == [Message(Opcode.TEXT, b"1234567890", "1234567890")]


def test_continuation_without_start() -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.CONTINUATION, b"x"))
    assert (error.code, error.reason) == (1002, "continuation frame without a message to continue")


def test_continuation_after_a_completed_message() -> None:
    reader = FrameReader(1024)
    reader.feed(client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.CONTINUATION, b""))
    assert feed_error(reader, client_frame(Opcode.CONTINUATION, b"x")).code == 1002


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_new_message_before_the_previous_one_ended(opcode: Opcode) -> None:
    reader = FrameReader(1024)
    assert reader.feed(client_frame(Opcode.TEXT, b"a", fin=False)) == []
    error = feed_error(reader, client_frame(opcode, b"b"))
    assert (error.code, error.reason) == (
        1002,
        "new message started before the previous one ended",
    )


# -- framing violations ------------------------------------------------------------------------


def test_unmasked_frame_is_a_protocol_error() -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.TEXT, b"hi", masked=False))
    assert (error.code, error.reason) == (1002, "client frames must be masked")


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_reserved_bits(rsv: int) -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.TEXT, b"hi", rsv=rsv))
    assert (error.code, error.reason) == (1002, "reserved bits set (no extension was negotiated)")


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode(opcode: int) -> None:
    error = feed_error(FrameReader(1024), client_frame(opcode, b"hi"))
    assert (error.code, error.reason) == (1002, "unknown opcode")


def test_violations_are_detected_from_the_first_two_bytes() -> None:
    assert feed_error(FrameReader(1024), b"\x81\x05").code == 1002  # unmasked, no payload yet


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frame_over_125_bytes(opcode: Opcode) -> None:
    payload = b"\x03\xe8" + b"r" * 124  # 126 bytes; a valid close payload apart from its size
    error = feed_error(FrameReader(1024), client_frame(opcode, payload))
    assert (error.code, error.reason) == (
        1002,
        "control frames must be final and at most 125 bytes",
    )


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_fragmented_control_frame(opcode: Opcode) -> None:
    error = feed_error(FrameReader(1024), client_frame(opcode, b"", fin=False))
    assert (error.code, error.reason) == (
        1002,
        "control frames must be final and at most 125 bytes",
    )


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG])
def test_control_frame_of_exactly_125_bytes(opcode: Opcode) -> None:
    payload = b"p" * 125
    assert FrameReader(1024).feed(client_frame(opcode, payload)) == [Message(opcode, payload)]


def test_control_frames_do_not_count_against_the_message_limit() -> None:
    assert FrameReader(10).feed(client_frame(Opcode.PING, b"p" * 100)) == [
        Message(Opcode.PING, b"p" * 100)
    ]


# -- size limit --------------------------------------------------------------------------------


def test_message_of_exactly_the_limit() -> None:
    assert FrameReader(10).feed(client_frame(Opcode.TEXT, b"0123456789")) == [
        Message(Opcode.TEXT, b"0123456789", "0123456789")
    ]


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_message_over_the_limit(opcode: Opcode) -> None:
    error = feed_error(FrameReader(10), client_frame(opcode, b"01234567890"))
    assert (error.code, error.reason) == (1009, "message over 10 bytes")


def test_oversized_frame_is_refused_from_its_header() -> None:
    reader = FrameReader(1024)
    assert feed_error(reader, header_only(Opcode.TEXT, 2_000_000)).code == 1009
    assert feed_error(FrameReader(1024), header_only(Opcode.TEXT, 1025)).code == 1009


def test_message_over_the_limit_across_fragments() -> None:
    reader = FrameReader(10)
    assert reader.feed(client_frame(Opcode.TEXT, b"123456", fin=False)) == []
    assert reader.feed(client_frame(Opcode.CONTINUATION, b"78", fin=False)) == []
    error = feed_error(reader, header_only(Opcode.CONTINUATION, 3))
    assert (error.code, error.reason) == (1009, "message over 10 bytes")


# -- UTF-8 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [b"\xff", b"abc\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
)
def test_invalid_utf8_text(payload: bytes) -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.TEXT, payload))
    assert (error.code, error.reason) == (1007, "text message is not valid UTF-8")


def test_invalid_utf8_in_fragmented_text() -> None:
    reader = FrameReader(1024)
    assert reader.feed(client_frame(Opcode.TEXT, b"ok", fin=False)) == []
    assert feed_error(reader, client_frame(Opcode.CONTINUATION, b"\xc3")).code == 1007


# -- close frames ------------------------------------------------------------------------------


def test_close_without_payload() -> None:
    assert FrameReader(1024).feed(client_frame(Opcode.CLOSE, b"")) == [
        Message(Opcode.CLOSE, b"", None, 1005)
    ]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_close_with_valid_code(code: int) -> None:
    payload = struct.pack("!H", code) + "bye ☃".encode()
    assert FrameReader(1024).feed(client_frame(Opcode.CLOSE, payload)) == [
        Message(Opcode.CLOSE, payload, None, code)
    ]


def test_close_with_code_and_no_reason() -> None:
    [message] = FrameReader(1024).feed(client_frame(Opcode.CLOSE, b"\x0f\xa1"))
    assert (message.opcode, message.code, message.payload) == (Opcode.CLOSE, 4001, b"\x0f\xa1")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_close_with_invalid_code(code: int) -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.CLOSE, struct.pack("!H", code)))
    assert (error.code, error.reason) == (1002, "invalid close code")


def test_close_with_one_byte_payload() -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.CLOSE, b"\x03"))
    assert (error.code, error.reason) == (1002, "close frame with a one-byte payload")


def test_close_reason_not_utf8() -> None:
    error = feed_error(FrameReader(1024), client_frame(Opcode.CLOSE, b"\x03\xe8\xff"))
    assert (error.code, error.reason) == (1007, "close reason is not valid UTF-8")


def test_nothing_is_read_after_a_close_frame() -> None:
    reader = FrameReader(1024)
    data = (
        client_frame(Opcode.TEXT, b"before")
        + client_frame(Opcode.CLOSE, b"\x03\xe8")
        + client_frame(Opcode.TEXT, b"after")
        + b"\xff\xff"  # garbage that would be a protocol error if it were parsed
    )
    assert reader.feed(data) == [
        Message(Opcode.TEXT, b"before", "before"),
        Message(Opcode.CLOSE, b"\x03\xe8", None, 1000),
    ]
    assert reader.feed(b"") == []


def test_close_can_interleave_a_fragmented_message() -> None:
    reader = FrameReader(1024)
    data = client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.CLOSE, b"")
    assert reader.feed(data) == [Message(Opcode.CLOSE, b"")]


def test_websocket_error_carries_code_and_reason() -> None:
    error = WebSocketError(1009, "too big")
    assert (error.code, error.reason, str(error)) == (1009, "too big", "too big")
    assert isinstance(error, Exception)


# -- server-side encoding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (1, b"\x81\x01"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (70_000, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70"),
    ],
)
def test_encode_frame_lengths(length: int, header: bytes) -> None:
    payload = b"a" * length
    assert encode_frame(Opcode.TEXT, payload) == header + payload


@pytest.mark.parametrize(
    ("opcode", "first"),
    [
        (Opcode.TEXT, 0x81),
        (Opcode.BINARY, 0x82),
        (Opcode.CLOSE, 0x88),
        (Opcode.PING, 0x89),
        (Opcode.PONG, 0x8A),
    ],
)
def test_encode_frame_is_final_and_unmasked(opcode: Opcode, first: int) -> None:
    assert encode_frame(opcode, b"xy") == bytes((first, 2)) + b"xy"


def test_encode_text_is_utf8() -> None:
    assert encode_text('{"a":"☃"}') == b"\x81\x0b" + '{"a":"☃"}'.encode()


def test_encode_close() -> None:
    assert encode_close(1000, "bye") == b"\x88\x05\x03\xe8bye"
    assert encode_close(4201) == b"\x88\x02\x10\x69"


def test_encode_close_limits_the_reason_to_123_bytes() -> None:
    frame = encode_close(4009, "r" * 300)
    assert frame == b"\x88\x7d\x0f\xa9" + b"r" * 123


def test_encode_close_keeps_a_truncated_reason_valid_utf8() -> None:
    # RFC 6455 §5.5.1: a close reason is UTF-8. Truncating to 123 bytes must not split a
    # character, or a conforming client fails the connection with 1007.
    frame = encode_close(1000, "é" * 100)
    assert frame[0] == 0x88
    assert frame[1] <= 125
    reason = frame[4:]
    assert reason.decode("utf-8") == "é" * 61
    assert FrameReader(1024).feed(client_frame(Opcode.CLOSE, frame[2:])) == [
        Message(Opcode.CLOSE, frame[2:], None, 1000)
    ]


def test_accept_key_rfc_example() -> None:
    # RFC 6455 §1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_opcode_values() -> None:
    assert {op.name: int(op) for op in Opcode} == {
        "CONTINUATION": 0,
        "TEXT": 1,
        "BINARY": 2,
        "CLOSE": 8,
        "PING": 9,
        "PONG": 10,
    }
