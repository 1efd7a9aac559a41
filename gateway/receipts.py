"""Delivery receipts: take apart a deliver_sm / data_sm, parse its receipt, map its state.

Why by hand: smpplib reads integer TLVs at their spec size instead of the wire length and
drops the last character of a ``receipted_message_id`` sent without its NUL, so the
reader hands us the raw PDU (or the raw TLV area) and the decoding happens here. Pure:
no I/O, no clock, no mutable module state; garbage raises ``ReceiptParseError`` only.

Receipt text (SMPP 3.4 appendix B, as SMSCs really write it)::

    id:1000123 sub:001 dlvrd:001 submit date:2611251930 done date:2611251931 stat:DELIVRD
    err:000 text:Hello

Keys are case-insensitive (``Id:``, ``ID:``, ``Stat:``), ``submit date`` may be written
``submit_date``; fields come in any order, missing ones are tolerated, unknown ones are
ignored; a value is the first whitespace-separated token after its key, except ``text:``,
which runs to the end of the string (so it is expected last). When ``short_message`` is
empty the text is read from TLV 0x0424 message_payload. TLVs win over the text:
0x001E receipted_message_id over ``id:``, 0x0427 message_state over ``stat:``, the error
part of 0x0423 network_error_code over ``err:``.

SMPP state word (``stat``) to provider state (``state``):

    ========  ===========  ====================================================
    stat      state        why
    ========  ===========  ====================================================
    DELIVRD   DELIVERED
    UNDELIV   UNDELIVERED
    EXPIRED   EXPIRED
    REJECTD   FAILED       refused by the SMSC or the carrier
    DELETED   FAILED       removed by the SMSC; it will never arrive
    ENROUTE   BUFFERED     still being retried, not final
    ACCEPTD   BUFFERED     accepted, not yet final
    UNKNOWN   UNDELIVERED  the SMSC does not know; never claim delivery
    (other)   UNDELIVERED  an unrecognised word is never taken as success
    ========  ===========  ====================================================

The long spellings some SMSCs use (DELIVERED, UNDELIVERABLE, ACCEPTED, REJECTED) map like
their short forms; ``stat`` itself keeps the word as received (upper-cased).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427
DELIVER_SM = 0x00000005
DATA_SM = 0x00000103

DELIVERED, UNDELIVERED, EXPIRED = "DELIVERED", "UNDELIVERED", "EXPIRED"
FAILED, BUFFERED = "FAILED", "BUFFERED"

STATE_BY_STAT: Mapping[str, str] = MappingProxyType(
    {
        "DELIVRD": DELIVERED,
        "UNDELIV": UNDELIVERED,
        "EXPIRED": EXPIRED,
        "REJECTD": FAILED,
        "DELETED": FAILED,
        "ENROUTE": BUFFERED,
        "ACCEPTD": BUFFERED,
        "UNKNOWN": UNDELIVERED,
        "DELIVERED": DELIVERED,
        "UNDELIVERABLE": UNDELIVERED,
        "ACCEPTED": BUFFERED,
        "REJECTED": FAILED,
    }
)
#: TLV 0x0427 message_state value -> SMPP state word.
STAT_BY_MESSAGE_STATE: Mapping[int, str] = MappingProxyType(
    {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED"}
    | {5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
)
FINAL_STATES = frozenset({DELIVERED, UNDELIVERED, EXPIRED, FAILED})
#: Final states, worst first: the state a multi-part message takes from its segments.
WORST_FIRST = (FAILED, UNDELIVERED, EXPIRED, DELIVERED)

_KEY = re.compile(
    r"(?<!\S)(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:", re.IGNORECASE
)
_TLV_HEAD = struct.Struct(">HH")
_PDU_HEAD = struct.Struct(">IIII")
_MAX_NUMERIC_ID = 64  # longer ids are not numbers an SMSC would print; skip conversions


class ReceiptParseError(ValueError):
    """The bytes are not a usable receipt or deliver_sm; the reader still answers the PDU."""


@dataclass(frozen=True)
class Receipt:
    """One parsed delivery receipt; ``state`` is the provider's word for ``stat``."""

    smsc_message_id: str
    stat: str
    state: str
    error_code: int | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class DeliverSm:
    """The fields of a deliver_sm or data_sm that the gateway acts on, TLVs raw by tag."""

    command_id: int
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

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


def state_for(stat: str) -> str:
    """Provider state for an SMPP state word; unknown words are UNDELIVERED, never success."""
    return STATE_BY_STAT.get(stat.upper(), UNDELIVERED)


def parse_receipt(short_message: bytes | str, tlvs: Mapping[int, bytes]) -> Receipt:
    """Parse a receipt from its text and raw TLVs (TLVs win); no id or no state -> error."""
    if isinstance(short_message, str):
        text = short_message
    else:
        text = bytes(short_message).decode("latin-1")
    if not text.strip("\x00 \t\r\n") and tlvs.get(TAG_MESSAGE_PAYLOAD):
        text = tlvs[TAG_MESSAGE_PAYLOAD].decode("latin-1")
    fields = _text_fields(text.rstrip("\x00"))
    smsc_id = _tlv_id(tlvs) or fields.get("id")
    if not smsc_id:
        raise ReceiptParseError("receipt carries no message id")
    stat = _tlv_stat(tlvs) or fields.get("stat", "").upper()
    if not stat:
        raise ReceiptParseError("receipt carries no state")
    error = _tlv_error(tlvs)
    return Receipt(
        smsc_message_id=smsc_id,
        stat=stat,
        state=state_for(stat),
        error_code=_number(fields.get("err")) if error is None else error,
        submitted=_number(fields.get("sub")),
        delivered=_number(fields.get("dlvrd")),
        submit_date=fields.get("submitdate"),
        done_date=fields.get("donedate"),
        text=fields.get("text"),
    )


def _text_fields(text: str) -> dict[str, str]:
    """Known receipt keys -> raw values; the first occurrence of a key wins."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for index, match in enumerate(matches):
        name = "".join(match.group(1).lower().split()).replace("_", "")
        if name == "text":
            fields.setdefault(name, text[match.end() :].strip(" \t\r\n\x00"))
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        tokens = text[match.end() : end].split()
        if tokens:
            fields.setdefault(name, tokens[0])
    return fields


def _number(value: str | None) -> int | None:
    """Decimal counter or error code (leading zeros fine, ``0x`` hex tolerated), else None."""
    if not value or not value.isascii():
        return None
    try:
        if value[:2].lower() == "0x":
            return int(value[2:], 16)
        return int(value, 10) if value.isdigit() else None
    except ValueError:
        return None


def _tlv_id(tlvs: Mapping[int, bytes]) -> str | None:
    """receipted_message_id without its one trailing NUL (the NUL is optional on the wire)."""
    value = tlvs.get(TAG_RECEIPTED_MESSAGE_ID)
    if not value:
        return None
    if value.endswith(b"\x00"):
        value = value[:-1]
    return value.decode("latin-1") or None


def _tlv_stat(tlvs: Mapping[int, bytes]) -> str | None:
    """message_state read at its wire length; a value outside 1..8 falls back to the text."""
    value = tlvs.get(TAG_MESSAGE_STATE)
    if not value:
        return None
    return STAT_BY_MESSAGE_STATE.get(int.from_bytes(value, "big"))


def _tlv_error(tlvs: Mapping[int, bytes]) -> int | None:
    """The error part of network_error_code (network type octet, then a 2-octet code)."""
    value = tlvs.get(TAG_NETWORK_ERROR_CODE)
    if value is None or len(value) < 2:
        return None
    return int.from_bytes(value[1:3] if len(value) >= 3 else value, "big")


def parse_tlvs(data: bytes) -> dict[int, bytes]:
    """Raw TLV area -> {tag: value}; first occurrence of a tag wins; truncation -> error."""
    tlvs: dict[int, bytes] = {}
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < _TLV_HEAD.size:
            raise ReceiptParseError(f"truncated TLV header at offset {pos}")
        tag, length = _TLV_HEAD.unpack_from(data, pos)
        pos += _TLV_HEAD.size
        if pos + length > size:
            raise ReceiptParseError(f"TLV 0x{tag:04X} wants {length} octets, {size - pos} left")
        tlvs.setdefault(tag, bytes(data[pos : pos + length]))
        pos += length
    return tlvs


class _Reader:
    """Cursor over a PDU body; every short read becomes ReceiptParseError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self) -> int:
        if self.pos >= len(self.data):
            raise ReceiptParseError(f"body ends at offset {self.pos}, expected an octet")
        self.pos += 1
        return self.data[self.pos - 1]

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ReceiptParseError(f"unterminated C-string at offset {self.pos}")
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ReceiptParseError(f"body ends before {count} octets at offset {self.pos}")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def rest(self) -> bytes:
        return self.data[self.pos :]


def split_deliver_sm(body: bytes, command_id: int = DELIVER_SM) -> DeliverSm:
    """Parse a deliver_sm (default) or data_sm body, i.e. the PDU after its 16-octet header."""
    if command_id not in (DELIVER_SM, DATA_SM):
        raise ReceiptParseError(f"command_id 0x{command_id:08X} is neither deliver_sm nor data_sm")
    reader = _Reader(bytes(body))
    reader.cstring()  # service_type
    source_ton, source_npi, source = reader.octet(), reader.octet(), reader.cstring()
    dest_ton, dest_npi, dest = reader.octet(), reader.octet(), reader.cstring()
    esm_class = reader.octet()
    if command_id == DATA_SM:
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
    if command_id == DATA_SM:
        short_message = tlvs.get(TAG_MESSAGE_PAYLOAD, b"")
    return DeliverSm(
        command_id=command_id,
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


def parse_deliver_pdu(raw: bytes) -> DeliverSm:
    """Parse a whole deliver_sm/data_sm PDU, header included; bytes past command_length ignored."""
    if len(raw) < _PDU_HEAD.size:
        raise ReceiptParseError(f"PDU of {len(raw)} octets is shorter than its header")
    length, command_id, _status, _sequence = _PDU_HEAD.unpack_from(raw)
    if not _PDU_HEAD.size <= length <= len(raw):
        raise ReceiptParseError(f"command_length {length} does not fit {len(raw)} octets")
    return split_deliver_sm(bytes(raw[_PDU_HEAD.size : length]), command_id)


def normalize_id(smsc_id: str) -> tuple[str, ...]:
    """Candidate keys for correlating an SMSC id printed in hex or in decimal.

    SMSCs answer submit_sm with an id in one base and print it in the receipt in the
    other (``1000123`` vs ``F42DB``), sometimes zero-padded. The candidates are: the id
    lower-cased with leading zeros stripped; if it is all hex digits, its decimal reading;
    if it is all decimal digits, also its hex reading (a decimal id is valid hex too, so it
    gets both). The store matches the exact id first, then any of these candidates.
    """
    ident = smsc_id.strip().lower()
    if not ident:
        return ()
    stripped = ident.lstrip("0") or "0"
    forms = [stripped]
    if len(stripped) <= _MAX_NUMERIC_ID and stripped.isascii() and stripped.isalnum():
        if stripped.isdigit():
            forms.append(format(int(stripped), "x"))
        if all(ch in "0123456789abcdef" for ch in stripped):
            forms.append(str(int(stripped, 16)))
    return tuple(dict.fromkeys(forms))


def canonical_forms(smsc_id: str) -> set[str]:
    """``normalize_id`` as a set, for intersection tests."""
    return set(normalize_id(smsc_id))


def message_state(segment_states: Sequence[str | None], segment_count: int) -> str | None:
    """The state of a multi-part message from its segments' latest states.

    ``segment_states`` holds one entry per segment (None: no receipt yet); entries missing
    up to ``segment_count`` count as None. When every segment is final, the result is the
    worst of them by ``WORST_FIRST`` (FAILED > UNDELIVERED > EXPIRED > DELIVERED), so it is
    DELIVERED only when all are. Otherwise BUFFERED when any segment said BUFFERED, else
    None: nothing new to report. Values that are not provider states count as None; no
    segments at all gives None.
    """
    states = list(segment_states)
    states += [None] * (segment_count - len(states))
    if not states:
        return None
    if all(state in FINAL_STATES for state in states):
        return min(states, key=lambda state: WORST_FIRST.index(state))  # type: ignore[arg-type]
    return BUFFERED if BUFFERED in states else None
