"""Unit tests for gateway.receipts: receipt text, TLVs, raw PDUs, id forms, multi-part state."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.receipts import (
    DATA_SM,
    DELIVER_SM,
    FINAL_STATES,
    STATE_BY_STAT,
    Receipt,
    ReceiptParseError,
    canonical_forms,
    message_state,
    normalize_id,
    parse_deliver_pdu,
    parse_receipt,
    parse_tlvs,
    split_deliver_sm,
)

STANDARD = (
    "id:1000123 sub:001 dlvrd:001 submit date:2611251930 done date:2611251931 "
    "stat:DELIVRD err:000 text:Hello"
)
STATES = ("DELIVERED", "UNDELIVERED", "EXPIRED", "FAILED", "BUFFERED")


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def deliver_body(short_message: bytes = b"", esm_class: int = 0x04, tlvs: bytes = b"") -> bytes:
    """A deliver_sm body with recognisable addresses, built field by field."""
    return (
        b"CMT\x00"
        + bytes([1, 1])
        + b"41791234567\x00"
        + bytes([5, 0])
        + b"MITTO\x00"
        + bytes([esm_class, 0, 0])
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + bytes([0, 0, 8, 0, len(short_message)])
        + short_message
        + tlvs
    )


def data_sm_body(payload: bytes, esm_class: int = 0x04, tlvs: bytes = b"") -> bytes:
    head = b"\x00" + bytes([1, 1]) + b"4179\x00" + bytes([0, 0]) + b"1234\x00"
    return head + bytes([esm_class, 0, 0]) + tlv(0x0424, payload) + tlvs


def pdu(command_id: int, body: bytes, sequence: int = 7) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, 0, sequence) + body


# --- receipt text ---------------------------------------------------------------------


def test_standard_receipt():
    receipt = parse_receipt(STANDARD.encode(), {})
    assert receipt == Receipt(
        smsc_message_id="1000123",
        stat="DELIVRD",
        state="DELIVERED",
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
    assert (receipt.stat, receipt.state) == (stat.upper(), state)


def test_key_variants_underscore_dates_and_capitals():
    text = "ID:abc Submit_Date:2611251930 DONE_DATE:261125193015 Stat:UNDELIV ERR:034 x:y"
    receipt = parse_receipt(text, {})
    assert receipt.smsc_message_id == "abc"
    assert (receipt.submit_date, receipt.done_date) == ("2611251930", "261125193015")
    assert (receipt.state, receipt.error_code) == ("UNDELIVERED", 34)
    assert receipt.submitted is None and receipt.text is None


def test_text_runs_to_the_end_with_spaces_and_colons():
    receipt = parse_receipt("id:9 stat:DELIVRD text:stat:UNDELIV id:1 a: b", {})
    assert (receipt.smsc_message_id, receipt.stat) == ("9", "DELIVRD")
    assert receipt.text == "stat:UNDELIV id:1 a: b"


def test_trailing_nul_and_hex_error():
    receipt = parse_receipt(b"id:7 stat:EXPIRED err:0x1A\x00", {})
    assert (receipt.state, receipt.error_code) == ("EXPIRED", 26)
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
    assert (receipt.smsc_message_id, receipt.state, receipt.error_code) == ("77", "FAILED", 5)


# --- TLVs -----------------------------------------------------------------------------


def test_tlvs_win_over_text():
    tlvs = {0x001E: b"ABCDEF\x00", 0x0427: b"\x05", 0x0423: b"\x03\x00\x22"}
    receipt = parse_receipt(STANDARD, tlvs)
    assert (receipt.smsc_message_id, receipt.stat, receipt.state) == (
        "ABCDEF",
        "UNDELIV",
        "UNDELIVERED",
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


def test_parse_tlvs_and_truncation():
    data = tlv(0x001E, b"abc\x00") + tlv(0x0427, b"\x02") + tlv(0x1400, b"")
    assert parse_tlvs(data) == {0x001E: b"abc\x00", 0x0427: b"\x02", 0x1400: b""}
    for cut in range(1, len(data)):
        if cut not in (8, 13):  # TLV boundaries
            with pytest.raises(ReceiptParseError):
                parse_tlvs(data[:cut])


# --- whole PDUs -----------------------------------------------------------------------


def test_deliver_sm_receipt_pdu():
    body = deliver_body(STANDARD.encode(), tlvs=tlv(0x001E, b"F42BB") + tlv(0x0427, b"\x02"))
    deliver = parse_deliver_pdu(pdu(DELIVER_SM, body))
    assert (deliver.source_addr, deliver.source_addr_ton, deliver.source_addr_npi) == (
        "41791234567",
        1,
        1,
    )
    assert (deliver.destination_addr, deliver.dest_addr_ton, deliver.data_coding) == ("MITTO", 5, 8)
    assert deliver.is_receipt and not deliver.has_udh
    assert deliver.short_message == STANDARD.encode()
    assert parse_receipt(deliver.short_message, deliver.tlvs).smsc_message_id == "F42BB"
    assert split_deliver_sm(body) == deliver


def test_data_sm_text_comes_from_message_payload():
    deliver = parse_deliver_pdu(pdu(DATA_SM, data_sm_body(b"id:5 stat:DELIVRD")))
    assert deliver.command_id == DATA_SM and deliver.short_message == b"id:5 stat:DELIVRD"
    assert deliver.destination_addr == "1234" and deliver.is_receipt


@pytest.mark.parametrize(
    ("esm_class", "receipt", "udh"),
    [(0x00, False, False), (0x04, True, False), (0x08, False, False), (0x10, False, False),
     (0x20, True, False), (0x40, False, True), (0x44, True, True), (0x03, False, False)],
)  # fmt: skip
def test_esm_class_bits(esm_class, receipt, udh):
    deliver = split_deliver_sm(deliver_body(b"x", esm_class=esm_class))
    assert (deliver.is_receipt, deliver.has_udh) == (receipt, udh)


def test_pdu_truncated_anywhere_is_a_parse_error():
    raw = pdu(DELIVER_SM, deliver_body(b"hello", tlvs=tlv(0x0427, b"\x02")))
    for cut in range(len(raw)):
        with pytest.raises(ReceiptParseError):
            parse_deliver_pdu(raw[:cut])
    with pytest.raises(ReceiptParseError):
        parse_deliver_pdu(pdu(0x00000004, deliver_body()))  # submit_sm


@given(st.binary(max_size=300))
def test_random_pdu_bytes_raise_only_parse_errors(raw):
    with contextlib.suppress(ReceiptParseError):
        parse_deliver_pdu(raw)


@given(st.sampled_from([DELIVER_SM, DATA_SM]), st.binary(max_size=200))
def test_random_bodies_behind_a_valid_header_raise_only_parse_errors(command_id, body):
    try:
        deliver = parse_deliver_pdu(pdu(command_id, body))
    except ReceiptParseError:
        return
    with contextlib.suppress(ReceiptParseError):
        parse_receipt(deliver.short_message, deliver.tlvs)


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
    assert receipt.state in STATES


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
    assert receipt.state == STATE_BY_STAT.get(receipt.stat, "UNDELIVERED")
    assert receipt.error_code == expected["err"]
    assert (receipt.submitted, receipt.delivered) == (expected["sub"], expected["dlvrd"])
    assert (receipt.submit_date, receipt.done_date) == (
        expected["submit date"],
        expected["done date"],
    )
    assert receipt.text == expected["text"]


# --- id correlation -------------------------------------------------------------------


def test_normalize_id_examples():
    assert normalize_id("1000123") == ("1000123", "f42bb", "16777507")
    assert canonical_forms("1000123") & canonical_forms("F42BB") == {"1000123", "f42bb"}
    assert "1000123" in normalize_id("000F42BB")
    assert normalize_id("123") == ("123", "7b", "291")  # both readings of a decimal id
    assert normalize_id("abc-DEF") == ("abc-def",)
    assert normalize_id("0000") == ("0",)
    assert normalize_id("  ") == ()


@given(st.integers(0, 2**64), st.integers(0, 6), st.booleans())
def test_decimal_and_hex_spellings_share_a_candidate(number, padding, upper):
    hex_form = "0" * padding + format(number, "X" if upper else "x")
    assert canonical_forms(str(number)) & canonical_forms(hex_form)
    assert canonical_forms("0" * padding + str(number)) & canonical_forms(format(number, "x"))


@given(st.text(max_size=80))
def test_normalize_id_never_raises(smsc_id):
    forms = normalize_id(smsc_id)
    assert all(form == form.lower() for form in forms)


# --- multi-part state -----------------------------------------------------------------


def test_message_state_examples():
    assert message_state(["DELIVERED"] * 3, 3) == "DELIVERED"
    assert message_state(["DELIVERED", "UNDELIVERED", "DELIVERED"], 3) == "UNDELIVERED"
    assert message_state(["EXPIRED", "UNDELIVERED", "FAILED"], 3) == "FAILED"
    assert message_state(["DELIVERED", "EXPIRED"], 2) == "EXPIRED"
    assert message_state(["DELIVERED", None], 2) is None
    assert message_state(["DELIVERED"], 2) is None  # the second receipt has not come
    assert message_state(["BUFFERED", None], 2) == "BUFFERED"
    assert message_state(["BUFFERED", "DELIVERED"], 2) == "BUFFERED"
    assert message_state(["FAILED", None], 2) is None
    assert message_state([], 0) is None
    assert message_state(["SENT"], 1) is None


@given(st.lists(st.none() | st.sampled_from(STATES), max_size=6), st.integers(0, 8))
def test_message_state_property(states, count):
    result = message_state(states, count)
    assert result is None or result in STATES
    padded = states + [None] * (count - len(states))
    if result == "DELIVERED":
        assert padded and all(state == "DELIVERED" for state in padded)
    if result in FINAL_STATES:
        assert all(state in FINAL_STATES for state in padded) and result in padded
    if padded and all(state in FINAL_STATES for state in padded):
        assert result in FINAL_STATES
