"""GSM 03.38 default alphabet and extension table, with septet-aware helpers.

Why: SMS length limits are counted in GSM septets and an extension character
(ESC 0x1B followed by a code, e.g. '€' = 1B 65) costs two of them. The tables come
from the `gsm0338` codec, which matches 3GPP TS 23.038 (checked: '§' is 0x5F,
'Ç' is 0x09, backtick is absent, '€' '{' '}' '[' ']' '~' '\\' '|' '^' and form feed
are escape pairs). The codec is used only to *build* the tables, because:
its encoder maps U+001B to a lone escape octet that would swallow the next
character; it grows a bytes object one character at a time (quadratic on long
texts); and its decoder is strict, while inbound traffic needs 23.038's lenient
fallbacks. On the SMPP wire the septets travel unpacked, one per octet; the
SMSC packs them, so limits are enforced on the packed size.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import gsm0338  # noqa: F401  -- registers the "gsm03.38" codec

ESCAPE = 0x1B
CODEC = "gsm03.38"
#: Septets in one SMS user data field (140 octets * 8 / 7).
MAX_SEPTETS = 160


def _build_basic() -> dict[int, str]:
    """Code -> character for the default table, minus the escape code itself."""
    return {code: bytes([code]).decode(CODEC) for code in range(0x80) if code != ESCAPE}


def _build_extension() -> dict[int, str]:
    """Code -> character for the escape (single shift) extension table."""
    table = {}
    for code in range(0x80):
        try:
            table[code] = bytes([ESCAPE, code]).decode(CODEC)
        except UnicodeDecodeError:
            continue
    return table


BASIC: Mapping[int, str] = MappingProxyType(_build_basic())
EXTENSION: Mapping[int, str] = MappingProxyType(_build_extension())
ENCODE: Mapping[str, bytes] = MappingProxyType(
    {ch: bytes([code]) for code, ch in BASIC.items()}
    | {ch: bytes([ESCAPE, code]) for code, ch in EXTENSION.items()}
)


def char_bytes(ch: str) -> bytes | None:
    """The unpacked GSM octets for one character (1 or 2), or None if not in GSM."""
    return ENCODE.get(ch)


def first_non_gsm(text: str) -> str | None:
    """The first character of `text` that GSM 03.38 cannot carry, if any."""
    return next((ch for ch in text if ch not in ENCODE), None)


def septet_count(text: str) -> int:
    """Septets `text` costs in GSM (extension characters count 2). Text must be GSM."""
    return sum(len(ENCODE[ch]) for ch in text)


def decode_unpacked(data: bytes) -> str:
    """Decode unpacked septets leniently, as TS 23.038 asks of a receiver.

    An escape followed by a code with no extension character shows the default
    table's character for that code; ESC ESC and a trailing ESC show a space; an
    octet above 0x7F (not a septet) becomes U+FFFD.
    """
    out: list[str] = []
    index = 0
    while index < len(data):
        code = data[index]
        index += 1
        if code == ESCAPE:
            nxt = data[index] if index < len(data) else ESCAPE
            index += 1
            out.append(_decode_escaped(nxt))
        else:
            out.append(BASIC.get(code, "\ufffd"))
    return "".join(out)


def _decode_escaped(code: int) -> str:
    if code == ESCAPE:
        return " "
    return EXTENSION.get(code) or BASIC.get(code, "\ufffd")


def udh_septets(udh_len: int) -> int:
    """Septets a UDH of `udh_len` octets occupies, fill bits included (6 octets -> 7)."""
    return (udh_len * 8 + 6) // 7


def packed_octets(septets: int) -> int:
    """Octets that `septets` septets take once packed 7 bits each (160 -> 140)."""
    return (septets * 7 + 7) // 8
