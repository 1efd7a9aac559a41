"""Received user data: the user data header, where a part sits, the text it carries.

The one decoder of what handsets send (inbound / MO messages): pure, nothing read from a
clock, nothing shared between calls. Undecodable input never raises; bad bytes become
U+FFFD and decoding carries on, because an inbound message must always reach the caller
in some form (the SMSC gets its deliver_sm_resp either way). GSM text is decoded by
gsm.decode_unpacked with the lenient rules of 3GPP TS 23.038. Reassembly of the parts
happens in the store, which keeps them until the last one arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from gateway.sms.gsm import decode_unpacked

GSM, UNICODE, BINARY = "GSM", "Unicode", "Binary"
GSM_CHARSETS = ("gsm", "latin1", "ascii")

#: SMPP 3.4 data_coding values that name a national character set.
_NATIONAL = MappingProxyType(
    {5: "shift_jis", 6: "iso8859_5", 7: "iso8859_8", 0x0A: "iso2022_jp", 0x0E: "euc_kr"}
)


@dataclass(frozen=True)
class PartInfo:
    """Where one part sits in a concatenated message; ``ref_bits`` says which scheme."""

    reference: int
    total: int
    number: int
    ref_bits: Literal[8, 16, "sar"]


@dataclass(frozen=True)
class InboundText:
    """Decoded user data; ``coding`` in the provider's words: GSM, Unicode or Binary."""

    text: str
    coding: str


def split_udh(payload: bytes, has_udh: bool) -> tuple[bytes, bytes]:
    """(UDH including its length octet, rest); a UDHL longer than the payload takes it all."""
    if not has_udh or not payload:
        return b"", bytes(payload)
    end = 1 + payload[0]
    return bytes(payload[:end]), bytes(payload[end:])


def concat_info(
    udh: bytes | None, sar: tuple[bytes | None, bytes | None, bytes | None] = (None, None, None)
) -> PartInfo | None:
    """Concatenation info from the UDH (IE 0x00 / 0x08) or else the SMPP SAR values.

    ``udh`` is the header as on the wire, length octet first (as ``split_udh`` returns it);
    ``sar`` the raw sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLV values.
    A part that claims one segment, or a number outside 1..total, is not a part: None.
    """
    part = _udh_concat(udh) if udh else None
    if part is None:
        part = _sar_concat(sar)
    if part is None or part.total <= 1 or not 1 <= part.number <= part.total:
        return None
    return part


def _udh_concat(udh: bytes) -> PartInfo | None:
    """Walk the information elements after the UDHL octet; the first concat IE wins."""
    pos, end = 1, min(len(udh), 1 + udh[0])
    while pos + 2 <= end:
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if len(data) < length:
            return None
        if iei == 0x00 and length == 3:
            return PartInfo(data[0], data[1], data[2], 8)
        if iei == 0x08 and length == 4:
            return PartInfo(int.from_bytes(data[:2], "big"), data[2], data[3], 16)
        pos += 2 + length
    return None


def _sar_concat(values: tuple[bytes | None, bytes | None, bytes | None]) -> PartInfo | None:
    """SAR values, read at their wire length; all three must be present and non-empty."""
    if not all(values):
        return None
    ref, total, number = (int.from_bytes(value or b"", "big") for value in values)
    return PartInfo(ref, total, number, "sar")


def decode(
    data_coding: int,
    payload: bytes,
    has_udh: bool,
    gsm_charset: str = "gsm",
    *,
    partial: bool = False,
) -> tuple[bytes, InboundText]:
    """Strip the UDH (when ``has_udh``) and decode the rest by ``data_coding``.

    Returns (UDH with its length octet or b"", text). ``gsm_charset`` is what the SMSC
    means by data_coding 0 (and the GSM classes): "gsm" (unpacked GSM 03.38), "latin1"
    or "ascii"; any other name is a configuration error (ValueError). ``partial=True``
    keeps a UCS-2 surrogate half at either end of the text, so a pair the sender split
    across two parts can be rejoined when the store joins the parts; otherwise halves become U+FFFD.
    """
    if gsm_charset not in GSM_CHARSETS:
        raise ValueError(f"gsm_charset must be one of {GSM_CHARSETS}, not {gsm_charset!r}")
    udh, body = split_udh(payload, has_udh)
    alphabet = _alphabet(data_coding)
    if alphabet == GSM:
        text = _decode_gsm_family(data_coding, body, gsm_charset)
    elif alphabet == UNICODE:
        text = _decode_unicode(data_coding, body, partial)
    else:
        text = body.hex().upper()
    return udh, InboundText(text, alphabet)


def _alphabet(data_coding: int) -> str:
    """GSM, Unicode or Binary for an SMPP data_coding / GSM 03.38 DCS octet."""
    if data_coding in (0, 1, 3):
        return GSM
    if data_coding == 8 or data_coding in _NATIONAL:
        return UNICODE
    group = data_coding >> 4
    if group <= 0x7 and data_coding >= 0x10:  # general groups 00xx / 01xx
        if data_coding & 0x20:
            return BINARY  # compressed: nothing we can read
        return (GSM, BINARY, UNICODE, BINARY)[(data_coding >> 2) & 0x3]
    if group in (0xC, 0xD):  # message waiting, GSM default alphabet
        return GSM
    if group == 0xE:  # message waiting, UCS-2
        return UNICODE
    if group == 0xF:  # data coding / message class: bit 2 picks 8-bit data over GSM
        return BINARY if data_coding & 0x04 else GSM
    return BINARY  # 2, 4 and every reserved value: hex is lossless


def _decode_gsm_family(data_coding: int, body: bytes, gsm_charset: str) -> str:
    """IA5 and Latin-1 by their SMPP codes; GSM-default codings per ``gsm_charset``."""
    charset = {1: "ascii", 3: "latin1"}.get(data_coding, gsm_charset)
    if charset == "gsm":
        return decode_unpacked(body)
    return body.decode(charset, "replace")


def _decode_unicode(data_coding: int, body: bytes, partial: bool) -> str:
    """UCS-2/UTF-16 big-endian (pairs joined), or a national charset by its SMPP code."""
    if data_coding in _NATIONAL:
        return body.decode(_NATIONAL[data_coding], "replace")
    text = body[: len(body) // 2 * 2].decode("utf-16-be", "surrogatepass")
    if len(body) % 2:
        text += "\ufffd"
    if not partial:
        return join_surrogates(text)
    start = 1 if text[:1] and "\udc00" <= text[0] <= "\udfff" else 0  # low half: ends a pair
    end = len(text)
    if end > start and "\ud800" <= text[-1] <= "\udbff":  # high half: starts a pair
        end -= 1
    return text[:start] + join_surrogates(text[start:end]) + text[end:]


def join_surrogates(text: str) -> str:
    """Join UTF-16 surrogate pairs into one character; lone halves become U+FFFD."""
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
