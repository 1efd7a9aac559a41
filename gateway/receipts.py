"""What a delivery receipt means: its fields, the message state it reports, its id forms.

The PDU itself is decoded by gateway/smpp/codec.py (TLVs at their wire length); this
module reads the receipt text and TLVs of a decoded deliver_sm / data_sm. Pure: no I/O,
no clock, no mutable module state; garbage raises ``ReceiptParseError`` only.

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

SMPP state word (``stat``) to message state (``state``, gateway/lifecycle.py):

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
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.lifecycle import State
from gateway.smpp import codec

STATE_BY_STAT: Mapping[str, State] = MappingProxyType(
    {
        "DELIVRD": State.DELIVERED,
        "UNDELIV": State.UNDELIVERED,
        "EXPIRED": State.EXPIRED,
        "REJECTD": State.FAILED,
        "DELETED": State.FAILED,
        "ENROUTE": State.BUFFERED,
        "ACCEPTD": State.BUFFERED,
        "UNKNOWN": State.UNDELIVERED,
        "DELIVERED": State.DELIVERED,
        "UNDELIVERABLE": State.UNDELIVERED,
        "ACCEPTED": State.BUFFERED,
        "REJECTED": State.FAILED,
    }
)
#: TLV 0x0427 message_state value -> SMPP state word.
STAT_BY_MESSAGE_STATE: Mapping[int, str] = MappingProxyType(
    {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED"}
    | {5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
)

_KEY = re.compile(
    r"(?<!\S)(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:", re.IGNORECASE
)
_MAX_NUMERIC_ID = 64  # longer ids are not numbers an SMSC would print; skip conversions


class ReceiptParseError(ValueError):
    """The bytes are not a usable receipt or deliver_sm; the reader still answers the PDU."""


@dataclass(frozen=True)
class Receipt:
    """One parsed delivery receipt; ``state`` is what ``stat`` means for the message."""

    smsc_message_id: str
    stat: str
    state: State
    error_code: int | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None


def state_for(stat: str) -> State:
    """The state an SMPP state word means; an unknown word is UNDELIVERED, never success."""
    return STATE_BY_STAT.get(stat.upper(), State.UNDELIVERED)


def parse_receipt(short_message: bytes | str, tlvs: Mapping[int, bytes]) -> Receipt:
    """Parse a receipt from its text and raw TLVs (TLVs win); no id or no state -> error."""
    if isinstance(short_message, str):
        text = short_message
    else:
        text = bytes(short_message).decode("latin-1")
    if not text.strip("\x00 \t\r\n") and tlvs.get(codec.TAG_MESSAGE_PAYLOAD):
        text = tlvs[codec.TAG_MESSAGE_PAYLOAD].decode("latin-1")
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
    value = tlvs.get(codec.TAG_RECEIPTED_MESSAGE_ID)
    if not value:
        return None
    if value.endswith(b"\x00"):
        value = value[:-1]
    return value.decode("latin-1") or None


def _tlv_stat(tlvs: Mapping[int, bytes]) -> str | None:
    """message_state read at its wire length; a value outside 1..8 falls back to the text."""
    value = tlvs.get(codec.TAG_MESSAGE_STATE)
    if not value:
        return None
    return STAT_BY_MESSAGE_STATE.get(int.from_bytes(value, "big"))


def _tlv_error(tlvs: Mapping[int, bytes]) -> int | None:
    """The error part of network_error_code (network type octet, then a 2-octet code)."""
    value = tlvs.get(codec.TAG_NETWORK_ERROR_CODE)
    if value is None or len(value) < 2:
        return None
    return int.from_bytes(value[1:3] if len(value) >= 3 else value, "big")


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
