"""Unit tests for the SMPP layer's pure and socket-level pieces."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpplib import smpp

from gateway.model import SubmitParams
from gateway.smpp import pdus
from gateway.smpp.backoff import backoff_delay
from gateway.smpp.framing import ConnectionClosed, FrameReader, FramingError
from gateway.smpp.status import is_transient, status_name
from gateway.workqueue import ReadyQueue, RetrySchedule


@given(
    attempt=st.integers(1, 50),
    low=st.floats(0.01, 5),
    high=st.floats(5, 120),
    r=st.floats(0, 1),
)
def test_backoff_stays_within_half_and_full_capped_delay(attempt, low, high, r):
    delay = backoff_delay(attempt, low, high, rand=lambda: r)
    ceiling = min(high, low * 2 ** (attempt - 1))
    assert ceiling * 0.5 - 1e-9 <= delay <= ceiling + 1e-9


def test_backoff_grows_then_caps():
    delays = [backoff_delay(n, 1, 8, rand=lambda: 1.0) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 8, 8]


def test_status_names_and_transient_split():
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x45) == "ESME_RSUBMITFAIL"
    assert status_name(0x1234) == "STATUS_0x00001234"
    assert is_transient(0x58) and is_transient(0x14) and is_transient(0x08)
    assert not is_transient(0x45) and not is_transient(0x0B)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(2880, "000002000000000R"), (90, "000000013000000R"), (1, "000000000100000R")],
)
def test_relative_validity(minutes, expected):
    assert pdus.relative_validity(minutes) == expected


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
    raw = pdus.submit_sm_pdu(7, params, payload)
    header = pdus.read_header(raw)
    assert (header.length, header.command_id, header.sequence) == (len(raw), 4, 7)
    parsed = smpp.parse_pdu(raw, sequence=0, allow_unknown_opt_params=True)
    assert parsed.source_addr == b"MITTO SMS"
    assert parsed.destination_addr == b"41791234567"
    assert (parsed.esm_class, parsed.data_coding, parsed.protocol_id) == (0x40, 8, 0x41)
    assert parsed.validity_period == b"000000010000000R"
    assert parsed.short_message == payload


def test_deliver_sm_resp_is_well_formed():
    raw = pdus.deliver_sm_resp(9, 0x64)
    assert struct.unpack(">LLLL", raw[:16]) == (17, 0x80000005, 0x64, 9)
    assert raw[16:] == b"\x00"


def test_bind_carries_fields_at_their_protocol_limits_whole():
    raw = pdus.bind_pdu("transceiver", 7, "s" * 15, "p" * 8, "t" * 12)
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
        pdus.bind_pdu("transmitter", 1, *fields)
    assert "\u00e4" not in str(info.value) and "p" * 9 not in str(info.value)


def test_sequence_generator_wraps():
    gen = pdus.SequenceGenerator()
    gen._value = gen.MAX - 1
    assert [gen.next_sequence() for _ in range(3)] == [gen.MAX, 1, 2]


def test_frame_reader_keeps_partial_pdus_across_timeouts():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(0.05)
        reader = FrameReader(b)
        pdu = pdus.simple_pdu("enquire_link", 5)
        a.sendall(pdu[:10])
        assert reader.read_pdu() is None
        assert reader.read_pdu() is None  # a timeout mid-PDU loses nothing
        a.sendall(pdu[10:] + pdu)
        assert reader.read_pdu() == pdu
        assert reader.read_pdu() == pdu
        a.close()
        with pytest.raises(ConnectionClosed):
            while True:
                reader.read_pdu()


def test_frame_reader_rejects_absurd_length():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(0.05)
        a.sendall(struct.pack(">LLLL", 10_000_000, 4, 0, 1))
        with pytest.raises(FramingError):
            FrameReader(b).read_pdu()


@pytest.mark.parametrize("length", [0xFFFFFFFF, 8, 0])
def test_framing_error_names_the_sequence_for_the_generic_nack(length):
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(0.05)
        a.sendall(struct.pack(">LLLL", length, 0x80000004, 0, 77))
        with pytest.raises(FramingError) as info:
            FrameReader(b).read_pdu()
        assert info.value.sequence == 77
        a.sendall(struct.pack(">L", length))  # only the length arrived: no sequence to name
        with pytest.raises(FramingError) as info:
            FrameReader(b).read_pdu()
        assert info.value.sequence is None


def test_ready_queue_retries_go_first_and_take_is_bounded():
    queue: ReadyQueue[int] = ReadyQueue()
    queue.put_many([1, 2, 3])
    queue.put_front(0)
    assert queue.take(2, 0.01) == [0, 1]
    assert queue.take(10, 0.01) == [2, 3]
    assert queue.take(10, 0.01) == []


def test_retry_schedule_releases_only_due_items():
    now = [100.0]
    schedule: RetrySchedule[str] = RetrySchedule(clock=lambda: now[0])
    schedule.add("late", 5)
    schedule.add("soon", 1)
    assert schedule.take_due(0) == []
    now[0] = 101.5
    assert schedule.take_due(0) == ["soon"]
    now[0] = 106
    assert schedule.take_due(0) == ["late"]


def _smpplib_submit_sm(sequence: int, params: SubmitParams, payload: bytes) -> bytes:
    """The reference encoding: smpplib's generic builder with the same fields."""
    validity = pdus.relative_validity(params.validity_minutes) if params.validity_minutes else ""
    pdu = pdus._make(
        "submit_sm",
        sequence,
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
    return pdu.generate()


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
    ours = pdus.submit_sm_pdu(sequence, params, payload)
    assert ours == _smpplib_submit_sm(sequence, params, payload)


def test_submit_sm_resp_message_id():
    header = pdus.HEADER.pack(0, 0x80000004, 0, 1)
    assert pdus.submit_sm_resp_message_id(header + b"abc123\x00") == "abc123"
    assert pdus.submit_sm_resp_message_id(header + b"\x00") is None
    assert pdus.submit_sm_resp_message_id(header) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"abc123", "abc123"),  # the final NUL missing
        (b"abc123\x00\x00\x00\x00", "abc123"),  # NUL padding
        (b"abc123\x00" + struct.pack(">HH", 0x0425, 1) + b"\x07", "abc123"),  # SMPP 5 TLV
    ],
)
def test_submit_sm_resp_message_id_tolerates_what_smscs_really_send(body, expected):
    header = pdus.HEADER.pack(0, 0x80000004, 0, 1)
    assert pdus.submit_sm_resp_message_id(header + body) == expected


def test_submit_sm_resp_cut_short_and_filled_from_the_next_header_is_refused():
    """A resp cut mid-id whose tail is the next PDU's header: the stream is out of step."""
    whole = pdus.HEADER.pack(26, 0x80000004, 0, 1) + b"123456789\x00"
    following = pdus.HEADER.pack(26, 0x80000004, 0, 2) + b"123456790\x00"
    cut = whole[:21] + following[:5]  # what a reader framing by command_length gets
    with pytest.raises(pdus.MalformedPdu):
        pdus.submit_sm_resp_message_id(cut)
