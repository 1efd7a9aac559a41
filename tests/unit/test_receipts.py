"""Unit tests for gateway.receipts: receipt text, TLVs, state words, id forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.lifecycle import State
from gateway.receipts import (
    STATE_BY_STAT,
    Receipt,
    ReceiptParseError,
    normalize_id,
    parse_receipt,
)

STANDARD = (
    "id:1000123 sub:001 dlvrd:001 submit date:2611251930 done date:2611251931 "
    "stat:DELIVRD err:000 text:Hello"
)


# --- receipt text ---------------------------------------------------------------------


def test_standard_receipt():
    receipt = parse_receipt(STANDARD.encode(), {})
    assert receipt == Receipt(
        smsc_message_id="1000123",
        stat="DELIVRD",
        state=State.DELIVERED,
        error_code=0,
        submitted=1,
        delivered=1,
        submit_date="2611251930",
        done_date="2611251931",
        text="Hello",
    )


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", "DELIVERED"),
        ("UNDELIV", "UNDELIVERED"),
        ("EXPIRED", "EXPIRED"),
        ("REJECTD", "FAILED"),
        ("DELETED", "FAILED"),
        ("ENROUTE", "BUFFERED"),
        ("ACCEPTD", "BUFFERED"),
        ("UNKNOWN", "UNDELIVERED"),
        ("delivrd", "DELIVERED"),
        ("DELIVERED", "DELIVERED"),
        ("UNDELIVERABLE", "UNDELIVERED"),
        ("WHATEVER", "UNDELIVERED"),
    ],
)
def test_state_table(stat, state):
    receipt = parse_receipt(f"id:42 stat:{stat} err:000", {})
    assert (receipt.stat, receipt.state) == (stat.upper(), State[state])


def test_key_variants_underscore_dates_and_capitals():
    text = "ID:abc Submit_Date:2611251930 DONE_DATE:261125193015 Stat:UNDELIV ERR:034 x:y"
    receipt = parse_receipt(text, {})
    assert receipt.smsc_message_id == "abc"
    assert (receipt.submit_date, receipt.done_date) == ("2611251930", "261125193015")
    assert (receipt.state, receipt.error_code) == (State.UNDELIVERED, 34)
    assert receipt.submitted is None and receipt.text is None


def test_text_runs_to_the_end_with_spaces_and_colons():
    receipt = parse_receipt("id:9 stat:DELIVRD text:stat:UNDELIV id:1 a: b", {})
    assert (receipt.smsc_message_id, receipt.stat) == ("9", "DELIVRD")
    assert receipt.text == "stat:UNDELIV id:1 a: b"


def test_trailing_nul_and_hex_error():
    receipt = parse_receipt(b"id:7 stat:EXPIRED err:0x1A\x00", {})
    assert (receipt.state, receipt.error_code) == (State.EXPIRED, 26)
    assert parse_receipt("id:7 stat:EXPIRED err:zz", {}).error_code is None


@pytest.mark.parametrize("text", ["", "stat:DELIVRD err:0", "id: stat:DELIVRD", "msgid:5 stat:X"])
def test_receipt_without_id_is_rejected(text):
    with pytest.raises(ReceiptParseError):
        parse_receipt(text, {})


@pytest.mark.parametrize("text", ["id:5 err:0", "id:5 stat: err:1", "id:5 text:stat:DELIVRD"])
def test_receipt_without_state_is_rejected(text):
    with pytest.raises(ReceiptParseError):
        parse_receipt(text, {})


def test_message_payload_used_when_short_message_is_empty():
    receipt = parse_receipt(b"", {0x0424: b"id:77 stat:REJECTD err:5"})
    assert (receipt.smsc_message_id, receipt.state, receipt.error_code) == ("77", State.FAILED, 5)


# --- TLVs -----------------------------------------------------------------------------


def test_tlvs_win_over_text():
    tlvs = {0x001E: b"ABCDEF\x00", 0x0427: b"\x05", 0x0423: b"\x03\x00\x22"}
    receipt = parse_receipt(STANDARD, tlvs)
    assert (receipt.smsc_message_id, receipt.stat, receipt.state) == (
        "ABCDEF",
        "UNDELIV",
        State.UNDELIVERED,
    )
    assert receipt.error_code == 34
    assert receipt.text == "Hello"  # text fields still read


def test_receipted_message_id_without_nul_keeps_last_char():
    assert parse_receipt(b"", {0x001E: b"12345", 0x0427: b"\x02"}).smsc_message_id == "12345"
    assert parse_receipt(b"", {0x001E: b"12345\x00", 0x0427: b"\x02"}).smsc_message_id == "12345"


@pytest.mark.parametrize("width", [1, 2, 4])
@pytest.mark.parametrize(("value", "stat"), [(1, "ENROUTE"), (2, "DELIVRD"), (8, "REJECTD")])
def test_message_state_tlv_read_at_wire_length(width, value, stat):
    receipt = parse_receipt(b"", {0x001E: b"x", 0x0427: value.to_bytes(width, "big")})
    assert receipt.stat == stat


def test_message_state_out_of_range_falls_back_to_text():
    assert parse_receipt("id:1 stat:EXPIRED", {0x0427: b"\x09"}).stat == "EXPIRED"
    with pytest.raises(ReceiptParseError):
        parse_receipt("id:1", {0x0427: b"\x00"})


@given(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from([0x1E, 0x423, 0x424, 0x427]), st.binary(max_size=12)),
)
def test_garbage_receipts_raise_only_parse_errors(data, tlvs):
    try:
        receipt = parse_receipt(data, tlvs)
    except ReceiptParseError:
        return
    assert receipt.smsc_message_id and receipt.stat
    assert receipt.state in STATE_BY_STAT.values()


# --- generated layouts ----------------------------------------------------------------

KEYS = {
    "id": ["id", "Id", "ID"],
    "sub": ["sub", "SUB", "Sub"],
    "dlvrd": ["dlvrd", "DLVRD", "Dlvrd"],
    "submit date": ["submit date", "submit_date", "Submit Date", "SUBMIT_DATE"],
    "done date": ["done date", "done_date", "Done Date"],
    "stat": ["stat", "Stat", "STAT"],
    "err": ["err", "Err", "ERR"],
}
IDS = st.text("0123456789abcdefABCDEF-_.xyz", min_size=1, max_size=40)
WORDS = st.sampled_from([*sorted(STATE_BY_STAT), "FOOBAR"])
RECEIPT_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
SPACES = st.sampled_from([" ", "  ", "\t", " \r\n "])


@st.composite
def receipts(draw):
    """(receipt text, expected values) in a random layout; text: always last."""
    values = {
        "id": draw(IDS),
        "stat": draw(WORDS),
        "err": draw(st.integers(0, 999)),
        "sub": draw(st.none() | st.integers(0, 999)),
        "dlvrd": draw(st.none() | st.integers(0, 999)),
        "submit date": draw(st.none() | st.from_regex(r"\A[0-9]{10}([0-9]{2})?\Z")),
        "done date": draw(st.none() | st.from_regex(r"\A[0-9]{10}([0-9]{2})?\Z")),
    }
    if draw(st.booleans()):
        values["err"] = None
    fields = []
    for name, value in values.items():
        if value is None:
            continue
        shown = f"{value:0{draw(st.integers(0, 4))}d}" if isinstance(value, int) else value
        fields.append(f"{draw(st.sampled_from(KEYS[name]))}:{shown}")
    fields += draw(st.lists(st.sampled_from(["foo:bar", "x:1", "extra"]), max_size=2))
    fields = draw(st.permutations(fields))
    text = draw(st.none() | RECEIPT_TEXT.map(lambda t: t.strip(" \t\r\n\x00")))
    if text is not None:
        fields.append(draw(st.sampled_from(["text:", "Text:", "TEXT:"])) + text)
    joined = "".join(field + draw(SPACES) for field in fields)
    return joined, dict(values, text=text)


@given(receipts(), st.booleans())
def test_generated_layouts_parse_back(sample, as_bytes):
    text, expected = sample
    receipt = parse_receipt(text.encode("latin-1") if as_bytes else text, {})
    assert receipt.smsc_message_id == expected["id"]
    assert receipt.stat == expected["stat"].upper()
    assert receipt.state == STATE_BY_STAT.get(receipt.stat, State.UNDELIVERED)
    assert receipt.error_code == expected["err"]
    assert (receipt.submitted, receipt.delivered) == (expected["sub"], expected["dlvrd"])
    assert (receipt.submit_date, receipt.done_date) == (
        expected["submit date"],
        expected["done date"],
    )
    assert receipt.text == expected["text"]


# --- id correlation -------------------------------------------------------------------


def _forms(smsc_id: str) -> set[str]:
    return set(normalize_id(smsc_id))


def test_normalize_id_examples():
    assert normalize_id("1000123") == ("1000123", "f42bb", "16777507")
    assert _forms("1000123") & _forms("F42BB") == {"1000123", "f42bb"}
    assert "1000123" in normalize_id("000F42BB")
    assert normalize_id("123") == ("123", "7b", "291")  # both readings of a decimal id
    assert normalize_id("abc-DEF") == ("abc-def",)
    assert normalize_id("0000") == ("0",)
    assert normalize_id("  ") == ()


@given(st.integers(0, 2**64), st.integers(0, 6), st.booleans())
def test_decimal_and_hex_spellings_share_a_candidate(number, padding, upper):
    hex_form = "0" * padding + format(number, "X" if upper else "x")
    assert _forms(str(number)) & _forms(hex_form)
    assert _forms("0" * padding + str(number)) & _forms(format(number, "x"))


@given(st.text(max_size=80))
def test_normalize_id_never_raises(smsc_id):
    forms = normalize_id(smsc_id)
    assert all(form == form.lower() for form in forms)
