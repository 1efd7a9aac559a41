"""The inbound decoder (gateway/sms/decoding.py): UDH and SAR parts, data codings, GSM."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sms.decoding import InboundText, PartInfo, concat_info, decode, split_udh
from gateway.sms.gsm import decode_unpacked

KEY = ("41791234567", "1234", 0x2A)


def udh8(ref: int, total: int, number: int) -> bytes:
    return bytes([5, 0x00, 3, ref, total, number])


def udh16(ref: int, total: int, number: int) -> bytes:
    return bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, number])


# --- concatenation info ---------------------------------------------------------------


def test_concat_info_8_bit_16_bit_and_sar():
    assert concat_info(udh8(0x2A, 3, 2)) == PartInfo(0x2A, 3, 2, 8)
    assert concat_info(udh16(0x1234, 2, 1)) == PartInfo(0x1234, 2, 1, 16)
    sar = (b"\x01\x02", b"\x02", b"\x02")
    assert concat_info(None, sar) == PartInfo(0x0102, 2, 2, "sar")
    assert concat_info(b"", sar) == PartInfo(0x0102, 2, 2, "sar")


def test_concat_info_skips_other_elements():
    ports = bytes([0x05, 4, 0x15, 0x81, 0x15, 0x81])
    udh = bytes([11]) + ports + bytes([0x00, 3, 9, 2, 1])
    assert concat_info(udh) == PartInfo(9, 2, 1, 8)
    assert concat_info(bytes([6]) + ports) is None


@pytest.mark.parametrize(
    "udh",
    [udh8(1, 1, 1), udh8(1, 0, 0), udh8(1, 3, 0), udh8(1, 3, 4), b"\x05\x00\x03\x01", b"\x00"],
)
def test_concat_info_rejects_single_and_broken_parts(udh):
    assert concat_info(udh) is None


def test_sar_needs_all_three_tlvs():
    assert concat_info(None, (b"\x01", b"\x02", None)) is None
    assert concat_info(None, (b"\x01", b"\x01", b"\x01")) is None


SAR_VALUE = st.none() | st.binary(max_size=3)


@given(st.binary(max_size=20), st.tuples(SAR_VALUE, SAR_VALUE, SAR_VALUE))
def test_concat_info_never_raises(udh, sar):
    part = concat_info(udh, sar)
    assert part is None or (1 <= part.number <= part.total and part.total > 1)


# --- decoding -------------------------------------------------------------------------


def test_gsm_default_alphabet_with_extension_and_udh():
    payload = udh8(1, 2, 1) + b"\x00\x1b\x65\x5f\x09Hi"
    udh, text = decode(0, payload, True)
    assert udh == udh8(1, 2, 1)
    assert text == InboundText("@€§ÇHi", "GSM")


def test_gsm_lenient_rules():
    assert decode_unpacked(b"\x1bA") == "A"  # unknown extension code: basic character
    assert decode_unpacked(b"a\x1b\x1bb") == "a b"  # ESC ESC: a space
    assert decode_unpacked(b"a\x1b") == "a "  # trailing ESC: a space
    assert decode_unpacked(b"a\x80b\xff") == "a\ufffdb\ufffd"


@pytest.mark.parametrize(
    ("charset", "expected"), [("gsm", "§é"), ("latin1", "_\x05"), ("ascii", "_\x05")]
)
def test_gsm_charset_setting_for_data_coding_0(charset, expected):
    assert decode(0, b"\x5f\x05", False, charset)[1] == InboundText(expected, "GSM")


def test_unknown_gsm_charset_is_a_configuration_error():
    with pytest.raises(ValueError, match="gsm_charset"):
        decode(0, b"x", False, "utf-7")


@pytest.mark.parametrize(
    ("data_coding", "payload", "expected"),
    [
        (1, b"Hi\xff", InboundText("Hi\ufffd", "GSM")),
        (3, b"Gr\xfc\xdfe", InboundText("Grüße", "GSM")),
        (8, "Привет 😀".encode("utf-16-be"), InboundText("Привет 😀", "Unicode")),
        (8, b"\x00A\x00", InboundText("A\ufffd", "Unicode")),
        (8, b"\xd8\x3d\x00A", InboundText("\ufffdA", "Unicode")),
        (6, "Да".encode("iso8859_5"), InboundText("Да", "Unicode")),
        (4, b"\x00\xab\xff", InboundText("00ABFF", "Binary")),
        (2, b"\x01", InboundText("01", "Binary")),
        (0xF0, b"\x00Hi", InboundText("@Hi", "GSM")),
        (0xF1, b"\x00", InboundText("@", "GSM")),
        (0xF5, b"\x00", InboundText("00", "Binary")),
        (0x18, "é".encode("utf-16-be"), InboundText("é", "Unicode")),
        (0x10, b"\x00", InboundText("@", "GSM")),
        (0x14, b"\x00", InboundText("00", "Binary")),
        (0x38, b"\x00\x41", InboundText("0041", "Binary")),  # compressed
        (0xE0, b"\x00A", InboundText("A", "Unicode")),
        (0xC1, b"\x00", InboundText("@", "GSM")),
        (0x85, b"\x12", InboundText("12", "Binary")),  # reserved group
    ],
)
def test_data_codings(data_coding, payload, expected):
    assert decode(data_coding, payload, False) == (b"", expected)


def test_udh_longer_than_payload_takes_it_all():
    assert split_udh(b"\x09\x00\x03", True) == (b"\x09\x00\x03", b"")
    assert split_udh(b"", True) == (b"", b"")
    assert split_udh(b"\x00abc", False) == (b"", b"\x00abc")


@given(
    st.integers(0, 255),
    st.binary(max_size=60),
    st.booleans(),
    st.sampled_from(["gsm", "latin1", "ascii"]),
    st.booleans(),
)
def test_decoding_never_raises(data_coding, payload, has_udh, charset, partial):
    udh, text = decode(data_coding, payload, has_udh, charset, partial=partial)
    assert payload.startswith(udh)
    assert text.coding in ("GSM", "Unicode", "Binary")
    if not partial:
        text.text.encode("utf-8")  # no lone surrogates


# --- reassembly -----------------------------------------------------------------------


def ucs2_parts(text: str, size: int) -> list[bytes]:
    data = text.encode("utf-16-be")
    return [data[i : i + size] for i in range(0, len(data), size)]
