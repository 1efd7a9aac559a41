"""Hypothesis properties: round trips, reassembly, part sizes, unsplit atoms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sms import EncodedMessage, decode, encode_message, gsm, parse_udh, text_length

GSM_CHARS = sorted(gsm.ENCODE)
LATIN1_CHARS = [ch for ch in GSM_CHARS if ord(ch) < 0x100]
ASCII_CHARS = [ch for ch in GSM_CHARS if ord(ch) < 0x80]
BOUNDARIES = [
    66,
    67,
    70,
    71,
    76,
    80,
    81,
    133,
    134,
    140,
    141,
    146,
    152,
    153,
    154,
    160,
    161,
    306,
    307,
]


def long_text(chars: st.SearchStrategy[str], max_size: int = 700) -> st.SearchStrategy[str]:
    """Texts up to `max_size` characters, often right at the part boundaries.

    Plain st.text() rarely grows past a few dozen characters, which would leave
    splitting untested; repeating a short random chunk reaches any length cheaply.
    """
    chunks = st.text(chars, min_size=1, max_size=40)
    sizes = st.integers(1, max_size) | st.sampled_from(BOUNDARIES)
    return st.builds(lambda chunk, n: (chunk * (n // len(chunk) + 1))[:n], chunks, sizes)


def gsm_text(chars: list[str] = GSM_CHARS) -> st.SearchStrategy[str]:
    extension = [ch for ch in "€{}[]~|^\\" if ch in chars]
    return long_text(st.sampled_from(chars) | st.sampled_from(extension or chars))


ucs2_text = long_text(st.characters(codec="utf-8") | st.sampled_from("😀🎉Ж€a"), 300)
binary_data = st.builds(
    lambda chunk, n: (chunk * (n // len(chunk) + 1))[:n],
    st.binary(min_size=1, max_size=40),
    st.integers(1, 450) | st.sampled_from(BOUNDARIES),
)
udh_hex = st.sampled_from([None, "06050415811581", "0404021020"])
FAST = settings(max_examples=60, deadline=None)


def _parts(encoded: EncodedMessage, charset: str = "gsm") -> list[tuple[bytes, str]]:
    has_udh = bool(encoded.esm_class & 0x40)
    decoded = [
        decode(encoded.data_coding, p, has_udh, charset, partial=True) for p in encoded.payloads
    ]
    return [(udh, text.text) for udh, text in decoded]


def _reassemble(encoded: EncodedMessage, charset: str = "gsm") -> str:
    return "".join(text for _, text in _parts(encoded, charset))


def _check_concat(encoded: EncodedMessage, ref: int) -> None:
    total = len(encoded.payloads)
    for number, (udh, _) in enumerate(_parts(encoded), start=1):
        concat = [data for iei, data in parse_udh(udh) if iei == 0x00] if udh else []
        if total == 1:
            assert concat == []
        else:
            assert concat == [bytes([ref & 0xFF, total, number])]


def _check_gsm_sizes(encoded: EncodedMessage, charset: str) -> None:
    for udh, text in _parts(encoded, charset):
        septets = gsm.septet_count(text)
        if udh:
            septets += gsm.udh_septets(len(udh))
        assert gsm.packed_octets(septets) <= 140
        assert (septets * 7 + 7) // 8 <= 140


@given(st.data(), st.sampled_from(["gsm", "latin1", "ascii"]), st.integers(0, 0xFFFF), udh_hex)
@FAST
def test_gsm_round_trip_in_every_charset(data, charset, ref, udh):
    allowed = {"gsm": GSM_CHARS, "latin1": LATIN1_CHARS, "ascii": ASCII_CHARS}[charset]
    text = data.draw(gsm_text(allowed))
    encoded = encode_message(text, "GSM", gsm_charset=charset, concat_ref=ref, udh_hex=udh)
    assert encoded.encoding == "gsm"
    assert _reassemble(encoded, charset) == text
    assert encoded.text_length == len(text)
    _check_gsm_sizes(encoded, charset)
    if not udh:
        _check_concat(encoded, ref)
        assert (len(encoded.payloads) == 1) == (gsm.septet_count(text) <= 160)


@given(gsm_text(), st.integers(0, 255))
@FAST
def test_escape_pairs_never_split(text, ref):
    encoded = encode_message(text, "GSM", concat_ref=ref)
    for payload in encoded.payloads:
        body = payload[1 + payload[0] :] if encoded.esm_class & 0x40 else payload
        assert not body.endswith(b"\x1b")
        assert len(body) <= 160


@given(ucs2_text, st.integers(0, 255), udh_hex)
@FAST
def test_ucs2_round_trip_and_surrogates_never_split(text, ref, udh):
    encoded = encode_message(text, "Unicode", concat_ref=ref, udh_hex=udh)
    assert (encoded.encoding, encoded.data_coding) == ("ucs2", 8)
    assert _reassemble(encoded) == text
    assert encoded.text_length == len(text.encode("utf-16-be")) // 2
    for payload in encoded.payloads:
        assert len(payload) <= 140
        body = payload[1 + payload[0] :] if encoded.esm_class & 0x40 else payload
        assert len(body) % 2 == 0
        assert not 0xD8 <= body[-2] <= 0xDB  # does not end in a high surrogate
        assert not 0xDC <= body[0] <= 0xDF  # does not start with a low surrogate
    if not udh:
        _check_concat(encoded, ref)
        assert (len(encoded.payloads) == 1) == (text_length(text) <= 70)


@given(binary_data, st.booleans(), st.integers(0, 255), udh_hex)
@FAST
def test_binary_round_trip(data, lower, ref, udh):
    hex_text = data.hex() if lower else data.hex().upper()
    encoded = encode_message(hex_text, "Binary", concat_ref=ref, udh_hex=udh)
    assert (encoded.encoding, encoded.data_coding) == ("binary", 4)
    assert _reassemble(encoded) == data.hex().upper()
    assert encoded.text_length == len(hex_text)
    assert all(len(p) <= 140 for p in encoded.payloads)
    if not udh:
        _check_concat(encoded, ref)
        assert (len(encoded.payloads) == 1) == (len(data) <= 140)


@given(ucs2_text | gsm_text(), st.booleans())
@FAST
def test_auto_round_trip_and_flash(text, flash):
    encoded = encode_message(text, "auto", flash=flash)
    fits_gsm = gsm.first_non_gsm(text) is None
    assert encoded.encoding == ("gsm" if fits_gsm else "ucs2")
    expected = {("gsm", False): 0x00, ("gsm", True): 0x10, ("ucs2", False): 0x08}
    assert encoded.data_coding == expected.get((encoded.encoding, flash), 0x18)
    assert _reassemble(encoded) == text
