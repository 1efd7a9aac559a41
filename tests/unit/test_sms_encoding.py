"""encode_message / parse_type / text_length: vectors and errors; the decoder round trip."""

from __future__ import annotations

import pytest

from gateway import sms
from gateway.sms import SmsError, decode, encode_message, parse_type, text_length


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "gsm"),
        ("", "gsm"),
        ("GSM", "gsm"),
        ("gsm", "gsm"),
        ("Unicode", "ucs2"),
        ("UNICODE", "ucs2"),
        ("UCS2", "ucs2"),
        ("Binary", "binary"),
        ("Byte", "binary"),
        ("auto", "auto"),
        ("AUTO", "auto"),
    ],
)
def test_parse_type(given, expected):
    assert parse_type(given) == expected


@pytest.mark.parametrize("given", ["utf8", "ucs-4", "Latin1", "text", "GSM7x", 7])
def test_parse_type_rejects_unknown(given):
    with pytest.raises(SmsError) as info:
        parse_type(given)
    assert (info.value.code, info.value.text) == (2, "Invalid type")


@pytest.mark.parametrize(
    ("text", "units"),
    [("Hello, World!", 13), ("€", 1), ("Ж", 1), ("😀", 2), ("a😀b", 4), ("48656C6C6F", 10)],
)
def test_text_length_counts_utf16_code_units(text, units):
    assert text_length(text) == units


def test_hello_world_is_one_gsm_part():
    encoded = encode_message("Hello, World!", "GSM")
    assert encoded.payloads == (b"Hello, World!",)
    assert (encoded.data_coding, encoded.esm_class, encoded.encoding) == (0, 0, "gsm")
    assert encoded.text_length == 13


@pytest.mark.parametrize(
    ("char", "octets"),
    [
        ("@", "00"),
        ("£", "01"),
        ("§", "5f"),
        ("Ç", "09"),
        ("¿", "60"),
        ("Δ", "10"),
        ("€", "1b65"),
        ("{", "1b28"),
        ("}", "1b29"),
        ("[", "1b3c"),
        ("]", "1b3e"),
        ("~", "1b3d"),
        ("\\", "1b2f"),
        ("|", "1b40"),
        ("^", "1b14"),
        ("\f", "1b0a"),
    ],
)
def test_gsm_table(char, octets):
    assert encode_message(char).payloads == (bytes.fromhex(octets),)


@pytest.mark.parametrize("char", ["`", "ç", "\x1b", "Ж", "😀", "\t"])
def test_gsm_rejects_characters_outside_the_alphabet(char):
    with pytest.raises(SmsError) as info:
        encode_message(f"a{char}b", "GSM")
    assert info.value.code == 4
    assert "Unicode or auto" in info.value.detail


def test_auto_picks_gsm_when_everything_fits():
    encoded = encode_message("Price: 5€ {ok}", "auto")
    assert (encoded.encoding, encoded.data_coding) == ("gsm", 0)


def test_auto_falls_back_to_ucs2():
    encoded = encode_message("Здравствуй, Мир!", "auto")
    assert (encoded.encoding, encoded.data_coding) == ("ucs2", 8)
    assert encoded.payloads == ("Здравствуй, Мир!".encode("utf-16-be"),)


def test_emoji_is_a_surrogate_pair():
    encoded = encode_message("😀", "Unicode")
    assert encoded.payloads == (bytes.fromhex("D83DDE00"),)
    assert encoded.text_length == 2
    assert encode_message("😀", "auto").payloads == encoded.payloads


def test_surrogates_given_as_two_code_points_are_joined():
    encoded = encode_message("\ud83d\ude00", "Unicode")
    assert encoded.payloads == (bytes.fromhex("D83DDE00"),)


def test_lone_surrogate_is_invalid():
    with pytest.raises(SmsError) as info:
        encode_message("a\ud83d", "Unicode")
    assert info.value.code == 4


def test_binary_is_hex():
    encoded = encode_message("48656c6C6F00ff", "Binary")
    assert encoded.payloads == (b"Hello\x00\xff",)
    assert (encoded.data_coding, encoded.encoding, encoded.text_length) == (4, "binary", 14)
    assert encode_message("00", "Byte").payloads == (b"\x00",)


@pytest.mark.parametrize("text", ["ABC", "GG", "AB CD", "0x12", " ABCD", "AB\n", "١٢"])
def test_binary_rejects_non_hex(text):
    with pytest.raises(SmsError) as info:
        encode_message(text, "Binary")
    assert info.value.code == 4


@pytest.mark.parametrize("type_", ["GSM", "Unicode", "Binary", "auto", None])
@pytest.mark.parametrize("text", [None, ""])
def test_empty_text(text, type_):
    with pytest.raises(SmsError) as info:
        encode_message(text, type_)
    assert (info.value.code, info.value.text) == (3, "Empty message")


@pytest.mark.parametrize(
    ("type_", "text", "plain", "flash"),
    [("GSM", "hi", 0x00, 0x10), ("Unicode", "hi", 0x08, 0x18), ("Binary", "0102", 0x04, 0x14)],
)
def test_flash_data_coding(type_, text, plain, flash):
    assert encode_message(text, type_).data_coding == plain
    flashed = encode_message(text, type_, flash=True)
    assert flashed.data_coding == flash
    assert flashed.payloads == encode_message(text, type_).payloads


def test_latin1_wire_charset():
    encoded = encode_message("ñ{€", "GSM", gsm_charset="gsm")
    assert encoded.payloads == (b"\x7d\x1b\x28\x1b\x65",)
    latin1 = encode_message("ñ{ü@", "GSM", gsm_charset="latin1")
    assert latin1.payloads == ("ñ{ü@".encode("latin-1"),)
    assert latin1.data_coding == 0


@pytest.mark.parametrize(("charset", "char"), [("latin1", "€"), ("latin1", "Δ"), ("ascii", "ñ")])
def test_wire_charset_cannot_carry(charset, char):
    with pytest.raises(SmsError) as info:
        encode_message(f"x{char}", "GSM", gsm_charset=charset)
    assert info.value.code == 4
    assert charset in info.value.detail
    assert encode_message(f"x{char}", "auto", gsm_charset=charset).encoding == "ucs2"


def test_unknown_gsm_charset_is_a_programming_error():
    with pytest.raises(ValueError) as info:
        encode_message("hi", gsm_charset="utf8")
    assert not isinstance(info.value, SmsError)
    with pytest.raises(ValueError):
        decode(0, b"hi", False, "cp1252")


@pytest.mark.parametrize(
    ("data_coding", "payload", "text"),
    [
        (0x00, b"\x00\x1b\x65\x5f", "@€§"),
        (0x01, b"Hello", "Hello"),
        (0x03, "café".encode("latin-1"), "café"),
        (0x08, bytes.fromhex("D83DDE000416"), "😀Ж"),
        (0x04, b"\x01\xab", "01AB"),
        (0x02, b"\xff", "FF"),
        (0x10, b"hi", "hi"),
        (0x18, bytes.fromhex("0416"), "Ж"),
        (0x14, b"\x0a", "0A"),
        (0xF0, b"hi", "hi"),
        (0xF1, b"hi", "hi"),
        (0xF4, b"hi", "6869"),
        (0xF5, b"hi", "6869"),
        (0x06, "Ж".encode("iso8859-5"), "Ж"),
        (0xC8, b"hi", "hi"),
        (0xE0, bytes.fromhex("0416"), "Ж"),
        (0x30, b"\x01", "01"),
        (0x90, b"\x01", "01"),
    ],
)
def test_decode_data_codings(data_coding, payload, text):
    assert decode(data_coding, payload, False)[1].text == text


def test_decode_default_alphabet_follows_gsm_charset():
    assert decode(0, b"\xe9", False, "latin1")[1].text == "é"
    assert decode(0, b"{", False, "ascii")[1].text == "{"
    assert decode(0x10, b"{", False, "latin1")[1].text == "{"


def test_decode_gsm_is_lenient():
    # ESC + code without an extension shows the base character; ESC ESC and a
    # trailing ESC show a space; a non-septet octet is a replacement character.
    assert decode(0, b"\x1bA\x1b\x1bB\x80\x1b", False)[1].text == "A B\ufffd "


def test_decode_splits_udh():
    udh, text = decode(8, bytes.fromhex("0500030A0201") + "Ж".encode("utf-16-be"), True)
    assert (udh, text.text) == (bytes.fromhex("0500030A0201"), "Ж")


@pytest.mark.parametrize("payload", ["", "05000302", "0500030A02", "0300030A"])
def test_decode_takes_a_short_udh_whole_and_never_raises(payload):
    """An inbound message must reach the caller in some form: a UDHL that runs past the
    payload takes all of it as header, and the text is empty, not an error."""
    udh, text = decode(0, bytes.fromhex(payload), True)
    assert udh == bytes.fromhex(payload) and text.text == ""


def _trigger(code):
    triggers = {
        2: lambda: sms.parse_type("Klingon"),
        3: lambda: sms.encode_message("", "GSM"),
        4: lambda: sms.encode_message("`", "GSM"),
        5: lambda: sms.sender_address("  "),
        6: lambda: sms.sender_address("AB"),
        7: lambda: sms.normalize_receiver(None),
        8: lambda: sms.normalize_receiver("+49 172 5551234"),
    }
    triggers[code]()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (2, "Invalid type"),
        (3, "Empty message"),
        (4, "Message text is invalid"),
        (5, "Empty sender"),
        (6, "Invalid sender"),
        (7, "Empty receiver"),
        (8, "Invalid receiver"),
    ],
)
def test_every_response_code_is_reachable(code, text):
    with pytest.raises(SmsError) as info:
        _trigger(code)
    assert (info.value.code, info.value.text) == (code, text)
    assert info.value.detail
    assert sms.RESPONSE_TEXTS[code] == text
    assert isinstance(info.value, ValueError)


def test_sms_error_message_and_unknown_code():
    error = SmsError(4, "character '€' needs type Unicode or auto")
    assert str(error) == "4 Message text is invalid: character '€' needs type Unicode or auto"
    with pytest.raises(ValueError):
        SmsError(9)
