"""SMPP 3.4 on the wire, sans I/O: bytes in, PDUs out; PDUs in, bytes out.

Everything the gateway knows about the wire is here: the header, command ids, the
command_status table, a framer that cuts a byte stream into PDUs, the encoders of what
the gateway sends and the decoders of what it reads. Like h11's `_connection.py`, nothing
here touches a socket or a clock, so it is tested with bytes alone; the session
(session.py) is the thin I/O loop around it.

Why our own encoders and decoders next to smpplib (docs/architecture.md, "smpplib"):
submit_sm is the hot path and smpplib's generic builder cost a quarter of the daemon's
CPU; smpplib reads integer TLVs at their spec size instead of the wire length and drops
the last character of a `receipted_message_id` sent without its NUL. smpplib still builds
the rare PDUs (binds) and names the status codes; tests check our submit_sm against it
byte for byte.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from smpplib import consts, smpp

from gateway.model import SubmitParams

HEADER = struct.Struct(">LLLL")
HEADER_LENGTH = HEADER.size
MAX_PDU_LENGTH = 64 * 1024  # far above any PDU an SMSC sends; a larger length is corrupt

# -- command ids ---------------------------------------------------------------------------
RESP = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
DATA_SM = 0x00000103
DATA_SM_RESP = 0x80000103

_COMMAND_NAMES: Mapping[int, str] = MappingProxyType(
    {
        GENERIC_NACK: "generic_nack",
        BIND_RECEIVER: "bind_receiver",
        BIND_TRANSMITTER: "bind_transmitter",
        BIND_TRANSCEIVER: "bind_transceiver",
        BIND_RECEIVER | RESP: "bind_receiver_resp",
        BIND_TRANSMITTER | RESP: "bind_transmitter_resp",
        BIND_TRANSCEIVER | RESP: "bind_transceiver_resp",
        SUBMIT_SM: "submit_sm",
        SUBMIT_SM_RESP: "submit_sm_resp",
        DELIVER_SM: "deliver_sm",
        DELIVER_SM_RESP: "deliver_sm_resp",
        UNBIND: "unbind",
        UNBIND_RESP: "unbind_resp",
        ENQUIRE_LINK: "enquire_link",
        ENQUIRE_LINK_RESP: "enquire_link_resp",
        DATA_SM: "data_sm",
        DATA_SM_RESP: "data_sm_resp",
    }
)

BIND_COMMANDS: Mapping[str, str] = MappingProxyType(
    {
        "transceiver": "bind_transceiver",
        "transmitter": "bind_transmitter",
        "receiver": "bind_receiver",
    }
)

# -- command_status ------------------------------------------------------------------------
ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # temporary application error: the SMSC delivers again later
ESME_RX_P_APPN = 0x65  # permanent application error: it does not

# Pseudo statuses for a submit that never got a response PDU.
RESPONSE_TIMEOUT = -1
CONNECTION_LOST = -2

_STATUS_NAMES: Mapping[int, str] = MappingProxyType(
    {
        value: name.removeprefix("SMPP_")
        for name, value in vars(consts).items()
        if name.startswith("SMPP_ESME_R") and isinstance(value, int)
    }
    | {RESPONSE_TIMEOUT: "RESPONSE_TIMEOUT", CONNECTION_LOST: "CONNECTION_LOST"}
)

#: Worth trying again later: the SMSC is busy or the link failed, not the message.
TRANSIENT: frozenset[int] = frozenset(
    {ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, RESPONSE_TIMEOUT, CONNECTION_LOST}
)

#: SMPP 3.4 section 4.1: the bind's C-Octet String fields, in octets with the closing NUL.
BIND_FIELD_SIZES: Mapping[str, int] = MappingProxyType(
    {"system_id": 16, "password": 9, "system_type": 13}
)

# -- optional parameters -------------------------------------------------------------------
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

_TLV_HEAD = struct.Struct(">HH")
MAX_SHORT_MESSAGE = 254  # sm_length is one octet; a segment holds at most 140


def status_name(status: int) -> str:
    """`ESME_RTHROTTLED` for 0x58; `STATUS_0x...` for codes SMPP 3.4 does not name."""
    return _STATUS_NAMES.get(status, f"STATUS_0x{status & 0xFFFFFFFF:08X}")


def is_transient(status: int) -> bool:
    return status in TRANSIENT


class DecodeError(ValueError):
    """The bytes are not the PDU they claim to be; the PDU is still answered."""


class FramingError(ConnectionError):
    """The stream cannot be trusted any more (an absurd command_length). Carries the PDU's
    sequence number when its header had arrived, so the session can answer generic_nack
    ESME_RINVCMDLEN for it (SMPP 3.4 section 3.3) before it hangs up."""

    def __init__(self, message: str, sequence: int | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence


@dataclass(frozen=True)
class Header:
    length: int
    command_id: int
    status: int
    sequence: int

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESP)


def read_header(data: bytes) -> Header:
    return Header(*HEADER.unpack_from(data))


def describe(data: bytes) -> str:
    """One line naming a PDU by its header: never its body, which holds the bind password,
    message texts and phone numbers (for log.pdu_debug)."""
    header = read_header(data)
    name = _COMMAND_NAMES.get(header.command_id, f"0x{header.command_id:08X}")
    status = f" {status_name(header.status)}" if header.is_response else ""
    return f"{name} seq={header.sequence} len={header.length}{status}"


class Framer:
    """Cuts a byte stream into whole PDUs, keeping partial bytes between feeds.

    smpplib's reader loses what it had read when a timeout lands mid-PDU and the stream
    desyncs; this keeps it. An absurd command_length raises FramingError at once instead
    of waiting for megabytes that never come.
    """

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._max_length = max_length
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add received bytes; yield every PDU they complete."""
        self._buffer += data
        while len(self._buffer) >= 4:
            (length,) = struct.unpack_from(">L", self._buffer)
            if length < HEADER_LENGTH or length > self._max_length:
                sequence = None
                if len(self._buffer) >= HEADER_LENGTH:
                    (sequence,) = struct.unpack_from(">L", self._buffer, 12)
                raise FramingError(f"absurd command_length {length}", sequence)
            if len(self._buffer) < length:
                return
            pdu = bytes(self._buffer[:length])
            del self._buffer[:length]
            yield pdu

    @property
    def pending(self) -> int:
        """Bytes held of a PDU not yet complete."""
        return len(self._buffer)


class SequenceGenerator:
    """Thread-safe sequence numbers in 1..0x7FFFFFFF (smpplib's own has no lock)."""

    MAX = 0x7FFFFFFF

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next_sequence(self) -> int:
        with self._lock:
            self._value = 1 if self._value >= self.MAX else self._value + 1
            return self._value


# -- encoders ------------------------------------------------------------------------------


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


def bind(kind: str, sequence: int, system_id: str, password: str, system_type: str) -> bytes:
    """bind_transceiver/transmitter/receiver; ValueError when a field cannot be carried
    (never truncated on the wire)."""
    fields = {"system_id": system_id, "password": password, "system_type": system_type}
    for name, value in fields.items():
        problem = c_octet_problem(value, BIND_FIELD_SIZES[name], secret=name == "password")
        if problem:
            raise ValueError(f"bind {name}: {problem}")
    pdu = smpp.make_pdu(
        BIND_COMMANDS[kind],
        sequence=sequence,
        **fields,
        interface_version=0x34,
        addr_ton=0,
        addr_npi=0,
        address_range="",
    )
    pdu.sequence = sequence  # smpplib ignores the keyword when its client has one
    data: bytes = pdu.generate()
    return data


def header_only(command_id: int, sequence: int, status: int = ESME_ROK) -> bytes:
    """enquire_link(_resp), unbind(_resp), generic_nack: a header and nothing else."""
    return HEADER.pack(HEADER_LENGTH, command_id, status, sequence)


def deliver_resp(command_id: int, sequence: int, status: int) -> bytes:
    """deliver_sm_resp or data_sm_resp: the header and an empty message_id C-string."""
    resp = DELIVER_SM_RESP if command_id == DELIVER_SM else DATA_SM_RESP
    return HEADER.pack(HEADER_LENGTH + 1, resp, status, sequence) + b"\x00"


def relative_validity(minutes: int) -> str:
    """SMPP 3.4 relative time `YYMMDDhhmmss000R` for a validity in minutes (days capped at 99)."""
    days, rest = divmod(max(0, minutes), 1440)
    hours, mins = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{mins:02d}00000R"


def submit_sm(sequence: int, params: SubmitParams, payload: bytes) -> bytes:
    """submit_sm, encoded with struct: the hot path, one per segment."""
    if len(payload) > MAX_SHORT_MESSAGE:
        raise ValueError(f"short_message of {len(payload)} octets; at most {MAX_SHORT_MESSAGE}")
    validity = (
        relative_validity(params.validity_minutes) if params.validity_minutes is not None else ""
    )
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
    return HEADER.pack(HEADER_LENGTH + len(body), SUBMIT_SM, ESME_ROK, sequence) + body


# -- decoders ------------------------------------------------------------------------------


def submit_sm_resp_message_id(data: bytes) -> str | None:
    """The message_id C-string of a submit_sm_resp (None when empty or absent).

    Lenient where SMSCs really differ (a missing final NUL, NUL padding, SMPP 5 TLVs after
    the id), strict about anything else after the id's NUL: that is what a PDU looks like
    when the stream is out of step (a PDU cut short, its tail taken from the next header),
    and its "id" would be a fragment that no receipt ever matches. Raises DecodeError.
    """
    body = data[HEADER_LENGTH:]
    end = body.find(b"\x00")
    if end < 0:
        return body.decode("latin-1") or None
    rest = body[end + 1 :]
    if rest.strip(b"\x00") and not _well_formed_tlvs(rest):
        raise DecodeError(f"submit_sm_resp body {bytes(body[:80]).hex()} is not id + TLVs")
    return body[:end].decode("latin-1") or None


def _well_formed_tlvs(data: bytes) -> bool:
    pos = 0
    while pos < len(data):
        if len(data) - pos < _TLV_HEAD.size:
            return False
        _tag, length = _TLV_HEAD.unpack_from(data, pos)
        pos += _TLV_HEAD.size + length
    return pos == len(data)


@dataclass(frozen=True)
class DeliverSm:
    """The fields of a deliver_sm or data_sm the gateway acts on, TLVs raw by tag."""

    command_id: int
    sequence: int
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: Mapping[int, bytes] = field(default_factory=dict)

    @property
    def is_receipt(self) -> bool:
        """esm_class bits 2-5: 0x04 SMSC delivery receipt or 0x20 intermediate notification."""
        return (self.esm_class & 0x3C) in (0x04, 0x20)

    @property
    def has_udh(self) -> bool:
        """esm_class UDHI bit: the user data starts with a user data header."""
        return bool(self.esm_class & 0x40)

    @property
    def payload(self) -> bytes:
        """The user data: short_message, or message_payload when short_message is empty."""
        return self.short_message or self.tlvs.get(TAG_MESSAGE_PAYLOAD, b"")


def parse_tlvs(data: bytes) -> dict[int, bytes]:
    """Raw TLV area -> {tag: value}; the first occurrence of a tag wins; truncation is an
    error. Values are kept at their wire length (integers are read by their users)."""
    tlvs: dict[int, bytes] = {}
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < _TLV_HEAD.size:
            raise DecodeError(f"truncated TLV header at offset {pos}")
        tag, length = _TLV_HEAD.unpack_from(data, pos)
        pos += _TLV_HEAD.size
        if pos + length > size:
            raise DecodeError(f"TLV 0x{tag:04X} wants {length} octets, {size - pos} left")
        tlvs.setdefault(tag, bytes(data[pos : pos + length]))
        pos += length
    return tlvs


class _Reader:
    """Cursor over a PDU body; every short read becomes DecodeError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError(f"body ends at offset {self.pos}, expected an octet")
        self.pos += 1
        return self.data[self.pos - 1]

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise DecodeError(f"unterminated C-string at offset {self.pos}")
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DecodeError(f"body ends before {count} octets at offset {self.pos}")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def rest(self) -> bytes:
        return self.data[self.pos :]


def decode_deliver(raw: bytes) -> DeliverSm:
    """A whole deliver_sm or data_sm PDU, header included; bytes past command_length are
    ignored. Raises DecodeError for anything else or anything malformed."""
    if len(raw) < HEADER_LENGTH:
        raise DecodeError(f"PDU of {len(raw)} octets is shorter than its header")
    header = read_header(raw)
    if not HEADER_LENGTH <= header.length <= len(raw):
        raise DecodeError(f"command_length {header.length} does not fit {len(raw)} octets")
    if header.command_id not in (DELIVER_SM, DATA_SM):
        raise DecodeError(f"command_id 0x{header.command_id:08X} is neither deliver_sm nor data_sm")
    reader = _Reader(bytes(raw[HEADER_LENGTH : header.length]))
    reader.cstring()  # service_type
    source_ton, source_npi, source = reader.octet(), reader.octet(), reader.cstring()
    dest_ton, dest_npi, dest = reader.octet(), reader.octet(), reader.cstring()
    esm_class = reader.octet()
    if header.command_id == DATA_SM:
        reader.take(1)  # registered_delivery
        data_coding = reader.octet()
        short_message = b""
    else:
        reader.take(2)  # protocol_id, priority_flag
        reader.cstring()  # schedule_delivery_time
        reader.cstring()  # validity_period
        reader.take(2)  # registered_delivery, replace_if_present_flag
        data_coding = reader.octet()
        reader.take(1)  # sm_default_msg_id
        short_message = reader.take(reader.octet())
    tlvs = parse_tlvs(reader.rest())
    if header.command_id == DATA_SM:
        short_message = tlvs.get(TAG_MESSAGE_PAYLOAD, b"")
    return DeliverSm(
        command_id=header.command_id,
        sequence=header.sequence,
        source_addr=source,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        destination_addr=dest,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )
