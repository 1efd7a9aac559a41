"""Splitting into parts, concatenation and custom UDHs, with the provider's limits."""

from __future__ import annotations

import pytest

from gateway.sms import SmsError, encode_message, parse_udh


def _concat(payload: bytes) -> tuple[int, int, int]:
    """(ref, total, number) of a part whose UDH ends with the 8-bit concat IE."""
    iei, data = parse_udh(payload[: 1 + payload[0]])[-1]
    assert iei == 0x00
    return data[0], data[1], data[2]


def _body(payload: bytes) -> bytes:
    return payload[1 + payload[0] :]


@pytest.mark.parametrize(
    ("text", "type_", "parts"),
    [
        ("a" * 160, "GSM", 1),
        ("a" * 161, "GSM", 2),
        ("a" * 153 * 2, "GSM", 2),
        ("a" * 153 * 3, "GSM", 3),
        ("a" * (153 * 3 + 1), "GSM", 4),
        ("€" * 80, "GSM", 1),
        ("€" * 81, "GSM", 2),
        ("Ж" * 70, "Unicode", 1),
        ("Ж" * 71, "Unicode", 2),
        ("Ж" * 67 * 3, "Unicode", 3),
        ("😀" * 35, "Unicode", 1),
        ("😀" * 36, "Unicode", 2),
        ("ab" * 140, "Binary", 1),
        ("ab" * 141, "Binary", 2),
        ("ab" * 134 * 2, "Binary", 2),
        ("ab" * (134 * 2 + 1), "Binary", 3),
    ],
)
def test_part_counts(text, type_, parts):
    encoded = encode_message(text, type_)
    assert len(encoded.payloads) == parts
    assert encoded.esm_class == (0x40 if parts > 1 else 0)


def test_single_gsm_part_is_160_unpacked_septets():
    assert encode_message("a" * 160).payloads == (b"a" * 160,)


def test_concatenated_parts_carry_the_udh():
    encoded = encode_message("a" * 161, concat_ref=0x1234)
    first, second = encoded.payloads
    assert first == bytes.fromhex("050003340201") + b"a" * 153
    assert second == bytes.fromhex("050003340202") + b"a" * 8


def test_every_part_has_consistent_concat_headers():
    encoded = encode_message("x" * 1000, concat_ref=7)
    total = len(encoded.payloads)
    assert total == 7
    assert [_concat(p) for p in encoded.payloads] == [(7, total, n) for n in range(1, 8)]


def test_escape_pair_is_never_split():
    encoded = encode_message("a" * 152 + "€" * 5)
    first, second = encoded.payloads
    assert _body(first) == b"a" * 152
    assert _body(second) == b"\x1b\x65" * 5


def test_81_euro_signs_split_at_76():
    first, second = encode_message("€" * 81).payloads
    assert _body(first) == b"\x1b\x65" * 76
    assert _body(second) == b"\x1b\x65" * 5


def test_surrogate_pair_is_never_split():
    first, second = encode_message("a" * 66 + "😀" * 3, "Unicode").payloads
    assert _body(first) == ("a" * 66).encode("utf-16-be")
    assert _body(second) == ("😀" * 3).encode("utf-16-be")


def test_ucs2_parts_hold_67_units():
    first, second = encode_message("Ж" * 71, "Unicode").payloads
    assert len(first) == 6 + 134
    assert _body(second) == "ЖЖЖЖ".encode("utf-16-be")


def test_binary_parts_hold_134_octets():
    first, second = encode_message("01" * 141, "Binary").payloads
    assert first == bytes.fromhex("050003000201") + b"\x01" * 134
    assert _body(second) == b"\x01" * 7


def test_at_most_255_parts():
    assert len(encode_message("a" * 153 * 255).payloads) == 255
    with pytest.raises(SmsError) as info:
        encode_message("a" * (153 * 255 + 1))
    assert info.value.code == 4
    assert "255" in info.value.detail


def test_custom_concat_udh_single_part():
    encoded = encode_message("Hello", udh_hex="050003CC0201")
    assert encoded.payloads == (bytes.fromhex("050003CC0201") + b"Hello",)
    assert encoded.esm_class == 0x40
    assert encode_message("a" * 153, udh_hex="050003cc0201").payloads[0][6:] == b"a" * 153


def test_custom_concat_udh_cannot_be_split_again():
    with pytest.raises(SmsError) as info:
        encode_message("a" * 154, udh_hex="050003CC0201")
    assert info.value.code == 4


def test_custom_port_udh_shrinks_capacity():
    udh = "06050415811581"
    assert len(encode_message("a" * 152, udh_hex=udh).payloads) == 1  # 160 - 8 septets
    encoded = encode_message("a" * 153, udh_hex=udh, concat_ref=9)
    assert len(encoded.payloads) == 2
    for number, payload in enumerate(encoded.payloads, start=1):
        udh_part = payload[: 1 + payload[0]]
        assert udh_part == bytes.fromhex("0B05041581158100030902") + bytes([number])
        assert parse_udh(udh_part) == [
            (0x05, bytes.fromhex("15811581")),
            (0x00, bytes([9, 2, number])),
        ]
    assert _body(encoded.payloads[0]) == b"a" * 146  # 160 - ceil(12 * 8 / 7) septets


def test_custom_udh_with_ucs2_and_binary():
    encoded = encode_message("Ж", "Unicode", udh_hex="06050415811581")
    assert encoded.payloads == (bytes.fromhex("060504158115810416"),)
    assert (encoded.data_coding, encoded.esm_class) == (8, 0x40)
    binary = encode_message("ff" * 133, "Binary", udh_hex="06050415811581")
    assert len(binary.payloads) == 1 and len(binary.payloads[0]) == 140
    assert len(encode_message("ff" * 134, "Binary", udh_hex="06050415811581").payloads) == 2


@pytest.mark.parametrize(
    "udh",
    ["05000300", "0G", "ABC", "06 050415811581", "0500", "00", "0300030A", "03000201", "0x0500"],
)
def test_invalid_custom_udh(udh):
    with pytest.raises(SmsError) as info:
        encode_message("hi", udh_hex=udh)
    assert info.value.code == 4
    assert info.value.detail.startswith("invalid udh")


def test_udh_leaving_no_room():
    udh = "8B" + "708900" + "00" * 136  # 140 octets: UDHL 139, one IE of 137 octets
    with pytest.raises(SmsError) as info:
        encode_message("hi", udh_hex=udh)
    assert info.value.code == 4
    assert "udh too long" in info.value.detail


@pytest.mark.parametrize(
    ("udh", "elements"),
    [
        ("050003CC0201", [(0x00, b"\xcc\x02\x01")]),
        ("06080401020304", [(0x08, bytes.fromhex("01020304"))]),
        ("03700100", [(0x70, b"\x00")]),
        ("057000240101", [(0x70, b""), (0x24, b"\x01")]),
        ("00", []),
    ],
)
def test_parse_udh(udh, elements):
    assert parse_udh(bytes.fromhex(udh)) == elements


@pytest.mark.parametrize("udh", ["", "06000301", "0400030102", "0200", "0400020102", "030502AAAA"])
def test_parse_udh_rejects_malformed(udh):
    with pytest.raises(ValueError):
        parse_udh(bytes.fromhex(udh))
