"""Building PDUs: the only door to smpplib in the daemon.

smpplib builds the rare PDUs (binds, enquire_link, unbind, responses), so its quirks
(sequence numbers drawn from a "client", `str` fields) are handled once, here. The hot
ones are ours: submit_sm is encoded with struct (checked byte for byte against smpplib in
tests/unit/test_smpp_units.py) and submit_sm_resp's message_id is read directly;
deliver_sm and data_sm are parsed by gateway/receipts.py.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any

from smpplib import smpp

from gateway.model import SubmitParams

HEADER = struct.Struct(">LLLL")
TLV_HEADER = struct.Struct(">HH")


class MalformedPdu(ValueError):
    """A PDU whose body cannot be what its header says: the stream is out of step."""


BIND_COMMANDS = {
    "transceiver": "bind_transceiver",
    "transmitter": "bind_transmitter",
    "receiver": "bind_receiver",
}
# SMPP 3.4 section 4.1: the bind's C-Octet String fields, in octets with the closing NUL.
BIND_FIELD_SIZES = {"system_id": 16, "password": 9, "system_type": 13}


def c_octet_problem(value: str, size: int, *, secret: bool = False) -> str | None:
    """Why `value` cannot travel in a C-Octet String of `size` octets; None when it can.

    smpplib cuts a longer value silently, and the SMSC then refuses the bind with a
    password nobody typed. Printable ASCII only: the octets of anything else depend on
    a character set the SMSC never announces. A secret's characters are never shown.
    """
    if len(value) > size - 1:
        return (
            f"at most {size - 1} characters (SMPP 3.4 carries {size} octets with the closing "
            f"NUL), got {len(value)}"
        )
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        shown = "" if secret else f", got {bad!r} at position {value.index(bad) + 1}"
        return f"only printable ASCII characters (no control or non-ASCII characters){shown}"
    return None


class SequenceGenerator:
    """Thread-safe sequence numbers in 1..0x7FFFFFFF (smpplib's own has no lock)."""

    MAX = 0x7FFFFFFF

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = 1 if self._value >= self.MAX else self._value + 1
            return self._value


@dataclass(frozen=True)
class Header:
    length: int
    command_id: int
    status: int
    sequence: int


def read_header(data: bytes) -> Header:
    return Header(*HEADER.unpack_from(data))


def relative_validity(minutes: int) -> str:
    """SMPP 3.4 relative time `YYMMDDhhmmss000R` for a validity in minutes (days capped at 99)."""
    days, rest = divmod(max(0, minutes), 1440)
    hours, mins = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{mins:02d}00000R"


def _make(command: str, sequence: int, **fields: Any) -> Any:
    """smpplib ignores a `sequence` keyword when its client has one; set it explicitly."""
    pdu = smpp.make_pdu(command, sequence=sequence, **fields)
    pdu.sequence = sequence
    return pdu


def bind_pdu(kind: str, sequence: int, system_id: str, password: str, system_type: str) -> bytes:
    """A bind PDU; ValueError when a field cannot be carried (never truncated on the wire)."""
    fields = {"system_id": system_id, "password": password, "system_type": system_type}
    for name, value in fields.items():
        problem = c_octet_problem(value, BIND_FIELD_SIZES[name], secret=name == "password")
        if problem:
            raise ValueError(f"bind {name}: {problem}")
    pdu = _make(
        BIND_COMMANDS[kind],
        sequence,
        system_id=system_id,
        password=password,
        system_type=system_type,
        interface_version=0x34,
        addr_ton=0,
        addr_npi=0,
        address_range="",
    )
    return pdu.generate()


SUBMIT_SM = 0x00000004
MAX_SHORT_MESSAGE = 254  # sm_length is one octet; a segment holds at most 140


def submit_sm_pdu(sequence: int, params: SubmitParams, payload: bytes) -> bytes:
    """Encode submit_sm with struct: it is the hot path (one per segment).

    smpplib's generic builder cost a quarter of the daemon's CPU in the bulk benchmark;
    tests/unit/test_smpp_units.py checks this encoder byte for byte against smpplib's.
    """
    validity = (
        relative_validity(params.validity_minutes) if params.validity_minutes is not None else ""
    )
    if len(payload) > MAX_SHORT_MESSAGE:
        raise ValueError(f"short_message of {len(payload)} octets; at most {MAX_SHORT_MESSAGE}")
    body = b"".join(
        (
            b"\x00",  # service_type
            bytes((params.source_addr_ton, params.source_addr_npi)),
            params.source_addr.encode("latin-1") + b"\x00",
            bytes((params.dest_addr_ton, params.dest_addr_npi)),
            params.destination_addr.encode("latin-1") + b"\x00",
            bytes((params.esm_class, params.protocol_id, 0)),  # priority_flag 0
            b"\x00",  # schedule_delivery_time: immediately
            validity.encode("ascii") + b"\x00",
            bytes((params.registered_delivery, 0, params.data_coding, 0)),
            bytes((len(payload),)),
            payload,
        )
    )
    return HEADER.pack(16 + len(body), SUBMIT_SM, 0, sequence) + body


def submit_sm_resp_message_id(data: bytes) -> str | None:
    """The message_id C-string of a submit_sm_resp (None when empty or absent).

    Lenient where SMSCs really differ (a missing final NUL, NUL padding, SMPP 5 TLVs after
    the id), strict about anything else after the id's NUL: that is what a PDU looks like
    when the stream is out of step (a PDU cut short, its tail taken from the next header),
    and its "id" would be a fragment that no receipt ever matches. Raises MalformedPdu.
    """
    body = data[16:]
    end = body.find(b"\x00")
    if end < 0:
        return body.decode("latin-1") or None
    rest = body[end + 1 :]
    if rest.strip(b"\x00") and not _well_formed_tlvs(rest):
        raise MalformedPdu(f"submit_sm_resp body {bytes(body[:80]).hex()} is not id + TLVs")
    return body[:end].decode("latin-1") or None


def _well_formed_tlvs(data: bytes) -> bool:
    pos = 0
    while pos < len(data):
        if len(data) - pos < TLV_HEADER.size:
            return False
        _tag, length = TLV_HEADER.unpack_from(data, pos)
        pos += TLV_HEADER.size + length
    return pos == len(data)


def simple_pdu(command: str, sequence: int, status: int = 0, **fields: Any) -> bytes:
    """Header-only or tiny PDUs: enquire_link(_resp), unbind(_resp), generic_nack, *_resp."""
    pdu = _make(command, sequence, status=status, **fields)
    return pdu.generate()


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    # deliver_sm_resp carries a message_id field that must be a single NUL.
    return HEADER.pack(17, 0x80000005, status, sequence) + b"\x00"
