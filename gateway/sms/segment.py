"""Splitting a message into SMS parts and building/parsing User Data Headers.

Why: a single SMS carries 140 octets of user data (160 GSM septets, 70 UCS-2
units). Longer text is split into parts that each start with a concatenation UDH
(`05 00 03 <ref> <total> <n>`), which takes 6 octets (7 septets, so 153 GSM / 67
UCS-2 units / 134 octets per part). A part boundary never falls inside an atom:
an atom is what one character encodes to (a GSM escape pair, a UTF-16 surrogate
pair) or one octet of binary data. A custom UDH from the request is kept in
every part, with the concatenation IE appended to it when splitting is needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from gateway.sms.errors import INVALID_TEXT, SmsError
from gateway.sms.gsm import MAX_SEPTETS, udh_septets

#: One atom: (octets on the wire, cost in the alphabet's unit: septets or octets).
Atom = tuple[bytes, int]
Unit = Literal["septet", "octet"]

MAX_OCTETS = 140
MAX_PARTS = 255
IEI_CONCAT_8BIT = 0x00
IEI_CONCAT_16BIT = 0x08
#: Fixed data lengths of well-known information elements (TS 23.040 9.2.3.24).
_FIXED_IE_LENGTHS = {0x00: 3, 0x04: 2, 0x05: 4, 0x08: 4}
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def parse_udh(udh: bytes) -> list[tuple[int, bytes]]:
    """Split a complete UDH (starting with its UDHL length octet) into (IEI, data).

    Raises ValueError when UDHL does not equal the remaining length, an IE runs past
    the end, or a well-known IE has the wrong length.
    """
    if not udh:
        raise ValueError("empty UDH")
    if udh[0] != len(udh) - 1:
        raise ValueError(f"UDHL is {udh[0]} but {len(udh) - 1} octets follow")
    elements: list[tuple[int, bytes]] = []
    index = 1
    while index < len(udh):
        if index + 2 > len(udh):
            raise ValueError(f"truncated information element at octet {index}")
        iei, length = udh[index], udh[index + 1]
        data = udh[index + 2 : index + 2 + length]
        if len(data) != length:
            raise ValueError(f"IE 0x{iei:02X} claims {length} octets, {len(data)} present")
        if _FIXED_IE_LENGTHS.get(iei, length) != length:
            raise ValueError(f"IE 0x{iei:02X} must carry {_FIXED_IE_LENGTHS[iei]} octets")
        elements.append((iei, data))
        index += 2 + length
    return elements


def custom_udh(udh_hex: str | None) -> bytes:
    """Validate the request's `udh` (hex incl. UDHL); b"" when absent. SmsError 4 if bad."""
    if udh_hex is None or udh_hex == "":
        return b""
    if not isinstance(udh_hex, str) or not _HEX.fullmatch(udh_hex):
        raise SmsError(INVALID_TEXT, "invalid udh: not an even-length hex string")
    udh = bytes.fromhex(udh_hex)
    try:
        elements = parse_udh(udh)
    except ValueError as exc:
        raise SmsError(INVALID_TEXT, f"invalid udh: {exc}") from None
    if not elements:
        raise SmsError(INVALID_TEXT, "invalid udh: no information elements")
    return udh


def concat_udh(custom: bytes, ref: int, total: int, number: int) -> bytes:
    """The custom UDH's IEs (if any) plus an 8-bit concatenation IE, with a new UDHL."""
    elements = custom[1:] + bytes([IEI_CONCAT_8BIT, 3, ref & 0xFF, total, number])
    return bytes([len(elements)]) + elements


def capacity(unit: Unit, udh_len: int) -> int:
    """User data left in one SMS once a UDH of `udh_len` octets is in it."""
    if unit == "septet":
        return MAX_SEPTETS - (udh_septets(udh_len) if udh_len else 0)
    return MAX_OCTETS - udh_len


def pack(atoms: Sequence[Atom], limit: int) -> list[list[Atom]]:
    """Greedily fill parts of at most `limit` cost without splitting any atom."""
    parts: list[list[Atom]] = [[]]
    used = 0
    for atom in atoms:
        if used + atom[1] > limit and parts[-1]:
            parts.append([])
            used = 0
        parts[-1].append(atom)
        used += atom[1]
    return parts


def segment(
    atoms: Sequence[Atom], unit: Unit, *, udh: bytes = b"", concat_ref: int = 0
) -> tuple[bytes, ...]:
    """Complete short_message payloads (UDH + user data) for the atoms, in order."""
    total = sum(cost for _, cost in atoms)
    if total <= capacity(unit, len(udh)):
        return (udh + _join(atoms),)
    if udh and _has_concat(udh):
        raise SmsError(INVALID_TEXT, "text too long for one part and the udh already concatenates")
    limit = capacity(unit, len(concat_udh(udh, 0, 1, 1)))
    if limit < max(cost for _, cost in atoms):
        raise SmsError(INVALID_TEXT, "udh too long: no room left for the text")
    if total > MAX_PARTS * limit:
        raise SmsError(INVALID_TEXT, f"text needs more than {MAX_PARTS} parts")
    parts = pack(atoms, limit)
    if len(parts) > MAX_PARTS:
        raise SmsError(INVALID_TEXT, f"text needs {len(parts)} parts, at most {MAX_PARTS}")
    return tuple(
        concat_udh(udh, concat_ref, len(parts), number) + _join(part)
        for number, part in enumerate(parts, start=1)
    )


def _join(atoms: Sequence[Atom]) -> bytes:
    return b"".join(wire for wire, _ in atoms)


def _has_concat(udh: bytes) -> bool:
    return any(iei in (IEI_CONCAT_8BIT, IEI_CONCAT_16BIT) for iei, _ in parse_udh(udh))
