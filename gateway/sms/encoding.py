"""Encoding message text for submit_sm (decoding what handsets send is decoding.py).

Why: the HTTP request gives a `type` (GSM, Unicode, Binary/Byte, auto), text and
optional `udh`/`flash`; SMPP needs a data_coding, an esm_class and one or more
short_message payloads. The rules (what each type accepts, which responseCode a
bad request earns, how parts are counted) live here, apart from any I/O, so the
HTTP layer and the engine share one exact behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.sms import gsm
from gateway.sms.errors import EMPTY_MESSAGE, INVALID_TEXT, INVALID_TYPE, SmsError
from gateway.sms.segment import Atom, Unit, custom_udh, segment

_TYPES = {
    "gsm": "gsm",
    "unicode": "ucs2",
    "ucs2": "ucs2",
    "binary": "binary",
    "byte": "binary",
    "auto": "auto",
}
#: gsm_charset -> Python codec for the data_coding 0 wire bytes (None: GSM unpacked).
_WIRE_CHARSETS: dict[str, str | None] = {"gsm": None, "latin1": "latin-1", "ascii": "ascii"}
_DATA_CODING = {"gsm": 0x00, "binary": 0x04, "ucs2": 0x08}
_FLASH_DATA_CODING = {"gsm": 0x10, "binary": 0x14, "ucs2": 0x18}
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
ESM_UDHI = 0x40


@dataclass(frozen=True)
class EncodedMessage:
    """What submit_sm needs: data_coding, esm_class and one payload per part."""

    data_coding: int
    esm_class: int
    payloads: tuple[bytes, ...]
    text_length: int
    encoding: str  # "gsm" | "ucs2" | "binary"


def parse_type(type_: str | None) -> str:
    """Map the request's `type` (case-insensitive) to gsm / ucs2 / binary / auto.

    None or "" mean the provider's default, GSM. "Unicode" and "UCS2" mean UCS-2;
    "Binary" and "Byte" (the docs use both) mean 8-bit data. Else SmsError 2.
    """
    if type_ is None:
        return "gsm"
    if not isinstance(type_, str):
        raise SmsError(INVALID_TYPE, f"type must be a string, not {type(type_).__name__}")
    key = type_.strip().lower()
    if key == "":
        return "gsm"
    if key not in _TYPES:
        raise SmsError(INVALID_TYPE, f"unknown type {type_!r}; use GSM, Unicode, Binary or auto")
    return _TYPES[key]


def text_length(text: str) -> int:
    """The provider's `textLength` for `text`: its length in UTF-16 code units.

    The provider is a .NET service and reports the submitted text's String.Length,
    which counts UTF-16 code units: 'Hello, World!' is 13, 'Ж' is 1, an emoji outside
    the Basic Multilingual Plane such as '😀' is 2 (a surrogate pair). It counts
    characters as submitted, not septets, so '€' is 1. For type Binary the text is
    the hex string, so this is the number of hex digits (twice the octet count).
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode_message(
    text: str,
    type_: str | None = "GSM",
    *,
    udh_hex: str | None = None,
    flash: bool = False,
    gsm_charset: str = "gsm",
    concat_ref: int = 0,
) -> EncodedMessage:
    """Validate and encode one message; SmsError 2/3/4 on a bad request.

    data_coding is 0 (GSM default alphabet), 8 (UCS-2) or 4 (8-bit binary). With
    `flash` the message is class 0 ("flash", shown at once, not stored) and uses the
    TS 23.038 general data coding group with class bits present: 0x10 for GSM,
    0x18 for UCS-2, 0x14 for binary. For data_coding 0 (and 0x10) the payload holds
    the text in `gsm_charset`: "gsm" (unpacked septets, ESC + code for extension
    characters), "latin1" or "ascii"; the text must then fit both GSM and that
    charset. Length limits are always counted in GSM septets, the cost on the air
    interface. Long text is split (see `segment`); `concat_ref` is the 8-bit
    concatenation reference. A ValueError (not SmsError) means a bad gsm_charset.
    """
    wire_charset = _wire_charset(gsm_charset)
    kind = parse_type(type_)
    if text is None or text == "":
        raise SmsError(EMPTY_MESSAGE, "text is empty")
    if not isinstance(text, str):
        raise SmsError(INVALID_TEXT, f"text must be a string, not {type(text).__name__}")
    udh = custom_udh(udh_hex)
    encoding, atoms = _atoms(kind, text, wire_charset, gsm_charset)
    unit: Unit = "septet" if encoding == "gsm" else "octet"
    payloads = segment(atoms, unit, udh=udh, concat_ref=concat_ref)
    return EncodedMessage(
        data_coding=(_FLASH_DATA_CODING if flash else _DATA_CODING)[encoding],
        esm_class=ESM_UDHI if udh or len(payloads) > 1 else 0,
        payloads=payloads,
        text_length=text_length(text),
        encoding=encoding,
    )


def _wire_charset(gsm_charset: str) -> str | None:
    if gsm_charset not in _WIRE_CHARSETS:
        raise ValueError(f"unknown gsm_charset {gsm_charset!r}; use gsm, latin1 or ascii")
    return _WIRE_CHARSETS[gsm_charset]


def _atoms(kind: str, text: str, wire: str | None, charset: str) -> tuple[str, list[Atom]]:
    if kind == "binary":
        return "binary", _binary_atoms(text)
    if kind == "ucs2":
        return "ucs2", _ucs2_atoms(text)
    try:
        return "gsm", _gsm_atoms(text, wire, charset)
    except SmsError:
        if kind == "auto":
            return "ucs2", _ucs2_atoms(text)
        raise


def _gsm_atoms(text: str, wire: str | None, charset: str) -> list[Atom]:
    atoms = []
    for ch in text:
        septets = gsm.char_bytes(ch)
        if septets is None:
            raise SmsError(
                INVALID_TEXT,
                f"character {_show(ch)} is not in the GSM 03.38 alphabet; "
                "it needs type Unicode or auto",
            )
        atoms.append((septets if wire is None else _in_charset(ch, wire, charset), len(septets)))
    return atoms


def _in_charset(ch: str, wire: str, charset: str) -> bytes:
    try:
        return ch.encode(wire)
    except UnicodeEncodeError:
        raise SmsError(
            INVALID_TEXT,
            f"character {_show(ch)} cannot be sent in the SMSC's {charset} charset; "
            "it needs type Unicode or auto",
        ) from None


def _ucs2_atoms(text: str) -> list[Atom]:
    # Re-pair surrogates that arrived as two code points, so that they stay one atom.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    atoms = []
    for ch in text:
        try:
            units = ch.encode("utf-16-be")
        except UnicodeEncodeError:
            raise SmsError(INVALID_TEXT, f"lone UTF-16 surrogate U+{ord(ch):04X}") from None
        atoms.append((units, len(units)))
    return atoms


def _binary_atoms(text: str) -> list[Atom]:
    if not _HEX.fullmatch(text):
        raise SmsError(
            INVALID_TEXT, "binary text must be an even number of hex digits, without spaces"
        )
    return [(bytes([octet]), 1) for octet in bytes.fromhex(text)]


def _show(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"
