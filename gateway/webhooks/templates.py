"""Callback templates: fill the provider's placeholders in a callback URL or POST body.

Why three spellings: the provider's callback reference documents ``<name>`` and ``$name$``
delimiters, and the one real account template on record (a JSON body, research notes
section 2) uses ``~name~``, e.g. ``{"Id":"~msgid~","MccMnc":"~mcc~~mnc~",...}``. A caller
migrating from the provider keeps whichever one it had.

Rules, the same for URLs and bodies:

- Only known names are placeholders (default: the callback parameters plus the 2-way
  names). Names match in any letter case (``<MsgId>`` fills like ``<msgid>``); values are
  looked up by the lower-case name, so callers pass lower-case keys.
- A known placeholder with no value fills as the empty string: a callback reading
  ``~mcc~`` literally is worse than one reading nothing.
- Anything else (``<b>``, a lone ``$``, ``~unknown~``) is left exactly as written.
- One pass: a filled value is never scanned again, so a value containing ``~msgid~``
  stays literal.

In a URL a value is percent-encoded with nothing kept safe, so ``&``, ``=``, ``/``, ``#``
and ``+`` inside a value cannot change the URL's shape. In a body a value is escaped as
the *inside* of a JSON string (the quotes belong to the template); non-ASCII stays
readable, lone surrogates are written as ``\\uXXXX`` escapes so the body always encodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote

CALLBACK_PARAMETERS = (
    "msgid",
    "sendtime",
    "status",
    "receiver",
    "mcc",
    "mnc",
    "cost",
    "errorcode",
    "sendtimestamp",
    "reference",
)
#: Parameters of the provider's 2-way (inbound message) callback.
TWO_WAY_PARAMETERS = ("coding", "sender", "content", "receiver", "msgid")
KNOWN_NAMES = tuple(dict.fromkeys(CALLBACK_PARAMETERS + TWO_WAY_PARAMETERS))

_SURROGATE = re.compile("[\ud800-\udfff]")


def fill_url(template: str, values: Mapping[str, str], names: Iterable[str] | None = None) -> str:
    """Fill placeholders in a callback URL; each value percent-encoded (nothing safe)."""
    return _fill(template, values, names, _url_escape)


def fill_body(template: str, values: Mapping[str, str], names: Iterable[str] | None = None) -> str:
    """Fill placeholders in a body template; each value escaped as a JSON string's inside."""
    return _fill(template, values, names, _json_escape)


def has_placeholders(template: str, names: Iterable[str] | None = None) -> bool:
    """Whether the template holds any known placeholder (else it is sent as is)."""
    return _pattern(names).search(template) is not None


def _url_escape(value: str) -> str:
    """Percent-encode UTF-8, every reserved character included; lone surrogates as '?'."""
    return quote(value, safe="", errors="replace")


def _json_escape(value: str) -> str:
    """JSON string escaping without the quotes; lone surrogates as \\uXXXX escapes."""
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", escaped)


def _fill(
    template: str,
    values: Mapping[str, str],
    names: Iterable[str] | None,
    escape: Callable[[str], str],
) -> str:
    """One regex pass over the template, each known placeholder replaced by its escaped value."""

    lowered = {str(key).lower(): value for key, value in values.items()}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None).lower()
        value = lowered.get(name)
        return "" if value is None else escape(str(value))

    return _pattern(names).sub(replace, template)


def _pattern(names: Iterable[str] | None) -> re.Pattern[str]:
    """The placeholder pattern for ``names``; the default one is compiled once, at import."""
    return _DEFAULT_PATTERN if names is None else _compile(names)


def _compile(names: Iterable[str]) -> re.Pattern[str]:
    """``<name>``, ``$name$`` or ``~name~`` for the given names, ASCII case-insensitive.

    ASCII-only folding, so the Kelvin sign or a long s cannot pass for a name's letter.
    """
    known = sorted({name.lower() for name in names}, key=lambda name: (-len(name), name))
    if not known:
        return re.compile(r"(?!)()")  # matches nothing
    alternatives = "|".join(re.escape(name) for name in known)
    return re.compile(f"<({alternatives})>|\\$({alternatives})\\$|~({alternatives})~", re.I | re.A)


_DEFAULT_PATTERN = _compile(KNOWN_NAMES)
