"""The sans-IO SMPP codec, tested with bytes alone: framing, encoders, decoders, statuses."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpplib import smpp

from gateway.model import SubmitParams
from gateway.receipts import parse_receipt
from gateway.smpp import codec
from gateway.smpp.codec import (
    DATA_SM,
    DELIVER_SM,
    DecodeError,
    Framer,
    FramingError,
    decode_deliver,
    is_transient,
    parse_tlvs,
    status_name,
)

STANDARD = (
    "id:1000123 sub:001 dlvrd:001 submit date:2611251930 done date:2611251931 "
    "stat:DELIVRD err:000 text:Hello"
)


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


# --- deliver_sm / data_sm --------------------------------------------------------------


def test_parse_tlvs_and_truncation():
    data = tlv(0x001E, b"abc\x00") + tlv(0x0427, b"\x02") + tlv(0x1400, b"")
    assert parse_tlvs(data) == {0x001E: b"abc\x00", 0x0427: b"\x02", 0x1400: b""}
    for cut in range(1, len(data)):
        if cut not in (8, 13):  # TLV boundaries
            with pytest.raises(DecodeError):
                parse_tlvs(data[:cut])


# --- whole PDUs -----------------------------------------------------------------------


def test_deliver_sm_receipt_pdu():
    body = deliver_body(STANDARD.encode(), tlvs=tlv(0x001E, b"F42BB") + tlv(0x0427, b"\x02"))
    deliver = decode_deliver(pdu(DELIVER_SM, body))
    assert (deliver.source_addr, deliver.source_addr_ton, deliver.source_addr_npi) == (
        "41791234567",
        1,
        1,
    )
    assert (deliver.destination_addr, deliver.dest_addr_ton, deliver.data_coding) == ("MITTO", 5, 8)
    assert deliver.is_receipt and not deliver.has_udh
    assert deliver.short_message == STANDARD.encode()
    assert parse_receipt(deliver.short_message, deliver.tlvs).smsc_message_id == "F42BB"


def test_data_sm_text_comes_from_message_payload():
    deliver = decode_deliver(pdu(DATA_SM, data_sm_body(b"id:5 stat:DELIVRD")))
    assert deliver.command_id == DATA_SM and deliver.short_message == b"id:5 stat:DELIVRD"
    assert deliver.destination_addr == "1234" and deliver.is_receipt


@pytest.mark.parametrize(
    ("esm_class", "receipt", "udh"),
    [(0x00, False, False), (0x04, True, False), (0x08, False, False), (0x10, False, False),
     (0x20, True, False), (0x40, False, True), (0x44, True, True), (0x03, False, False)],
)  # fmt: skip
def test_esm_class_bits(esm_class, receipt, udh):
    deliver = decode_deliver(pdu(DELIVER_SM, deliver_body(b"x", esm_class=esm_class)))
    assert (deliver.is_receipt, deliver.has_udh) == (receipt, udh)


def test_pdu_truncated_anywhere_is_a_parse_error():
    raw = pdu(DELIVER_SM, deliver_body(b"hello", tlvs=tlv(0x0427, b"\x02")))
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_deliver(raw[:cut])
    with pytest.raises(DecodeError):
        decode_deliver(pdu(0x00000004, deliver_body()))  # submit_sm


@given(st.binary(max_size=300))
def test_random_pdu_bytes_raise_only_parse_errors(raw):
    with contextlib.suppress(DecodeError):
        decode_deliver(raw)


@given(st.sampled_from([DELIVER_SM, DATA_SM]), st.binary(max_size=200))
def test_random_bodies_behind_a_valid_header_raise_only_parse_errors(command_id, body):
    try:
        deliver = decode_deliver(pdu(command_id, body))
    except DecodeError:
        return
    with contextlib.suppress(DecodeError):
        parse_receipt(deliver.short_message, deliver.tlvs)


# --- statuses ---------------------------------------------------------------------------


def test_status_names_and_transient_split():
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x45) == "ESME_RSUBMITFAIL"
    assert status_name(0x1234) == "STATUS_0x00001234"
    assert status_name(codec.RESPONSE_TIMEOUT) == "RESPONSE_TIMEOUT"
    assert is_transient(0x58) and is_transient(0x14) and is_transient(0x08)
    assert is_transient(codec.CONNECTION_LOST)
    assert not is_transient(0x45) and not is_transient(0x0B)


# --- framing ----------------------------------------------------------------------------


def test_framer_keeps_partial_pdus_between_feeds():
    framer = Framer()
    pdu_bytes = codec.header_only(codec.ENQUIRE_LINK, 5)
    assert list(framer.feed(pdu_bytes[:10])) == []
    assert framer.pending == 10
    assert list(framer.feed(pdu_bytes[10:] + pdu_bytes + pdu_bytes[:3])) == [pdu_bytes, pdu_bytes]
    assert list(framer.feed(pdu_bytes[3:])) == [pdu_bytes]
    assert framer.pending == 0


@pytest.mark.parametrize("length", [0, 15, 64 * 1024 + 1, 0xFFFFFFFF])
def test_framer_rejects_absurd_length(length):
    with pytest.raises(FramingError):
        list(Framer().feed(struct.pack(">LLLL", length, 4, 0, 1)))


@given(st.lists(st.binary(min_size=0, max_size=40), max_size=8), st.integers(1, 30))
def test_framer_cuts_any_chunking_the_same_way(bodies, chunk):
    pdus = [struct.pack(">LLLL", 16 + len(b), 0x80000004, 0, i) + b for i, b in enumerate(bodies)]
    stream = b"".join(pdus)
    framer = Framer()
    out = []
    for start in range(0, len(stream), chunk):
        out.extend(framer.feed(stream[start : start + chunk]))
    assert out == pdus


@pytest.mark.parametrize("length", [0xFFFFFFFF, 8, 0])
def test_framing_error_names_the_sequence_for_the_generic_nack(length):
    with pytest.raises(FramingError) as info:
        list(Framer().feed(struct.pack(">LLLL", length, 0x80000004, 0, 77)))
    assert info.value.sequence == 77
    with pytest.raises(FramingError) as info:  # only the length arrived: no sequence
        list(Framer().feed(struct.pack(">L", length)))
    assert info.value.sequence is None


def test_sequence_generator_wraps():
    gen = codec.SequenceGenerator()
    gen._value = gen.MAX - 1
    assert [gen.next_sequence() for _ in range(3)] == [gen.MAX, 1, 2]


# --- encoders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(2880, "000002000000000R"), (90, "000000013000000R"), (1, "000000000100000R")],
)
def test_relative_validity(minutes, expected):
    assert codec.relative_validity(minutes) == expected


def test_header_only_and_deliver_resp_are_well_formed():
    assert codec.header_only(codec.GENERIC_NACK, 3, codec.ESME_RINVCMDID) == struct.pack(
        ">LLLL", 16, 0x80000000, 3, 3
    )
    raw = codec.deliver_resp(DELIVER_SM, 9, 0x64)
    assert struct.unpack(">LLLL", raw[:16]) == (17, 0x80000005, 0x64, 9)
    assert raw[16:] == b"\x00"
    assert codec.read_header(codec.deliver_resp(DATA_SM, 9, 0)).command_id == 0x80000103


def test_bind_round_trips_through_smpplib():
    raw = codec.bind("transceiver", 11, "smppclient", "password", "")
    parsed = smpp.parse_pdu(raw, sequence=0, allow_unknown_opt_params=True)
    assert parsed.command == "bind_transceiver" and parsed.sequence == 11
    assert (parsed.system_id, parsed.password) == (b"smppclient", b"password")


def test_bind_carries_fields_at_their_protocol_limits_whole():
    raw = codec.bind("transceiver", 7, "s" * 15, "p" * 8, "t" * 12)
    length, command_id, status, sequence = struct.unpack(">LLLL", raw[:16])
    assert (length, command_id, status, sequence) == (len(raw), 0x00000009, 0, 7)
    assert raw[16:].split(b"\x00")[:3] == [b"s" * 15, b"p" * 8, b"t" * 12]
    assert raw[16 + 16 + 9 + 13] == 0x34  # interface_version right after the three fields


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("s" * 16, "pw", ""), "bind system_id: at most 15 characters"),
        (("sys", "p" * 9, ""), "bind password: at most 8 characters"),
        (("sys", "pw", "t" * 13), "bind system_type: at most 12 characters"),
        (("sys", "pw\u00e4", ""), "bind password: only printable ASCII characters"),
        (("sys\x00id", "pw", ""), "bind system_id: only printable ASCII characters"),
    ],
)
def test_bind_refuses_fields_it_cannot_carry_instead_of_cutting_them(fields, message):
    with pytest.raises(ValueError, match=message) as info:
        codec.bind("transmitter", 1, *fields)
    assert "\u00e4" not in str(info.value) and "p" * 9 not in str(info.value)


def test_submit_sm_round_trips_through_smpplib():
    params = SubmitParams(
        source_addr="MITTO SMS",
        source_addr_ton=5,
        source_addr_npi=0,
        destination_addr="41791234567",
        dest_addr_ton=1,
        dest_addr_npi=1,
        data_coding=8,
        esm_class=0x40,
        protocol_id=0x41,
        registered_delivery=1,
        validity_minutes=60,
    )
    payload = bytes.fromhex("0500034202010041")
    raw = codec.submit_sm(7, params, payload)
    header = codec.read_header(raw)
    assert (header.length, header.command_id, header.sequence) == (len(raw), 4, 7)
    parsed = smpp.parse_pdu(raw, sequence=0, allow_unknown_opt_params=True)
    assert parsed.source_addr == b"MITTO SMS"
    assert parsed.destination_addr == b"41791234567"
    assert (parsed.esm_class, parsed.data_coding, parsed.protocol_id) == (0x40, 8, 0x41)
    assert parsed.validity_period == b"000000010000000R"
    assert parsed.short_message == payload


def _smpplib_submit_sm(sequence: int, params: SubmitParams, payload: bytes) -> bytes:
    """The reference encoding: smpplib's generic builder with the same fields."""
    validity = codec.relative_validity(params.validity_minutes) if params.validity_minutes else ""
    pdu_obj = smpp.make_pdu(
        "submit_sm",
        sequence=sequence,
        service_type="",
        source_addr_ton=params.source_addr_ton,
        source_addr_npi=params.source_addr_npi,
        source_addr=params.source_addr,
        dest_addr_ton=params.dest_addr_ton,
        dest_addr_npi=params.dest_addr_npi,
        destination_addr=params.destination_addr,
        esm_class=params.esm_class,
        protocol_id=params.protocol_id,
        priority_flag=0,
        schedule_delivery_time="",
        validity_period=validity,
        registered_delivery=params.registered_delivery,
        replace_if_present_flag=0,
        data_coding=params.data_coding,
        sm_default_msg_id=0,
        short_message=payload,
    )
    pdu_obj.sequence = sequence
    return pdu_obj.generate()


@given(
    sequence=st.integers(1, 0x7FFFFFFF),
    sender=st.text(alphabet="ABCDEFGHIJ0123456789 +", min_size=1, max_size=14),
    receiver=st.text(alphabet="0123456789", min_size=3, max_size=15),
    ton=st.integers(0, 6),
    npi=st.sampled_from([0, 1, 9]),
    data_coding=st.sampled_from([0, 3, 4, 8, 0x10, 0x18]),
    esm_class=st.sampled_from([0, 0x40]),
    protocol_id=st.integers(0, 255),
    registered_delivery=st.integers(0, 2),
    validity=st.integers(1, 20160),
    payload=st.binary(min_size=0, max_size=140),
)
def test_submit_sm_encoder_matches_smpplib_byte_for_byte(
    sequence, sender, receiver, ton, npi, data_coding, esm_class, protocol_id,
    registered_delivery, validity, payload,
):  # fmt: skip
    params = SubmitParams(
        source_addr=sender,
        source_addr_ton=ton,
        source_addr_npi=npi,
        destination_addr=receiver,
        dest_addr_ton=1,
        dest_addr_npi=1,
        data_coding=data_coding,
        esm_class=esm_class,
        protocol_id=protocol_id,
        registered_delivery=registered_delivery,
        validity_minutes=validity,
    )
    assert codec.submit_sm(sequence, params, payload) == _smpplib_submit_sm(
        sequence, params, payload
    )


def test_submit_sm_resp_message_id():
    header = codec.HEADER.pack(0, 0x80000004, 0, 1)
    assert codec.submit_sm_resp_message_id(header + b"abc123\x00") == "abc123"
    assert codec.submit_sm_resp_message_id(header + b"\x00") is None
    assert codec.submit_sm_resp_message_id(header) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"abc123", "abc123"),  # the final NUL missing
        (b"abc123\x00\x00\x00\x00", "abc123"),  # NUL padding
        (b"abc123\x00" + struct.pack(">HH", 0x0425, 1) + b"\x07", "abc123"),  # SMPP 5 TLV
    ],
)
def test_submit_sm_resp_message_id_tolerates_what_smscs_really_send(body, expected):
    header = codec.HEADER.pack(0, 0x80000004, 0, 1)
    assert codec.submit_sm_resp_message_id(header + body) == expected


def test_submit_sm_resp_cut_short_and_filled_from_the_next_header_is_refused():
    """A resp cut mid-id whose tail is the next PDU's header: the stream is out of step."""
    whole = codec.HEADER.pack(26, 0x80000004, 0, 1) + b"123456789\x00"
    following = codec.HEADER.pack(26, 0x80000004, 0, 2) + b"123456790\x00"
    cut = whole[:21] + following[:5]  # what a reader framing by command_length gets
    with pytest.raises(DecodeError):
        codec.submit_sm_resp_message_id(cut)
