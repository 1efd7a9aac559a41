"""Parsing and checking one setting's value: TOML values, environment text, secret files.

The declarations and the loader are in gateway/config.py; this is their value layer.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.webhooks.urls import UnsafeUrl, allowed_hosts_problem, check_url

if TYPE_CHECKING:
    from gateway.config import Setting


class Duration:
    """Setting type marker: seconds as a float. Given as a number or "250ms", "30s", "5m", "1h"."""


class Problem(Exception):
    """One setting's problem; the loader prefixes the key."""


def parse_listen(value: str) -> tuple[str, int]:
    """ "host:port" -> (host, port); IPv6 goes in brackets: "[::1]:8080" -> ("::1", 8080)."""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:port, got {value!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
        port = rest[1:]
    else:
        host, colon, port = value.rpartition(":")
        if not colon or not host:
            raise ValueError(f"expected host:port (e.g. 127.0.0.1:8080), got {value!r}")
        if ":" in host:
            raise ValueError(f"put an IPv6 address in brackets (e.g. [::1]:8080), got {value!r}")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be 1..65535, got {port!r}")
    return host, int(port)


def listen(value: str) -> str | None:
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def optional_listen(value: str) -> str | None:
    return listen(value) if value else None


def non_empty(value: Any) -> str | None:
    return None if value else "must not be empty"


def bind_field(name: str, *, required: bool = False) -> Callable[[str], str | None]:
    """A check that `name` fits its bind field (SMPP 3.4 sizes, in gateway/smpp/codec.py)."""

    def check(value: str) -> str | None:
        from gateway.smpp.codec import BIND_FIELD_SIZES, c_octet_problem

        if required and not value:
            return "must not be empty"
        size = BIND_FIELD_SIZES[name]
        return c_octet_problem(value, size, secret=name == "password")

    return check


def readable_file(value: str) -> str | None:
    """Empty, or a file this process can read (relative: to the working directory)."""
    if not value:
        return None
    try:
        with open(value, "rb"):
            return None
    except OSError as exc:
        return f"cannot read {value!r}: {exc.strerror}"


def host_name(value: str) -> str | None:
    """Empty, or a name without spaces or control characters (a TLS server name)."""
    if value and not all("!" <= c <= "~" for c in value):
        return f"must be a host name (printable ASCII, no spaces), got {value!r}"
    return None


def no_empty_items(value: tuple[str, ...]) -> str | None:
    return "items must not be empty" if any(not item.strip() for item in value) else None


def http_url(value: str) -> str | None:
    """A webhook URL setting: checked as the dispatcher will check it before opening it
    (gateway/webhooks/urls.py), so a URL that would be refused there fails at load."""
    if not value:
        return None
    try:
        check_url(value)
    except UnsafeUrl as exc:
        return f"{exc}; got {value!r}"
    return None


def callback_hosts(value: tuple[str, ...]) -> str | None:
    """webhooks.allowed_callback_hosts: each entry host, host:port, [v6]:port or *.domain."""
    return allowed_hosts_problem(value)


_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean (true or false)",
    Duration: 'a duration in seconds (a number, or a string like "250ms", "30s", "5m")',
    list[str]: "a list of strings",
}
_TOML_KINDS = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               list: "an array", dict: "a table"}  # fmt: skip
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}  # fmt: skip
_UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))


def store_url(value: str) -> str | None:
    """Empty (SQLite at store.path), sqlite:///path, or a postgresql:// URL."""
    if not value:
        return None
    from gateway.store.location import parse_location

    try:
        parse_location(value)
    except ValueError as exc:
        return f"{exc}; expected sqlite:///path or postgresql://user@host/db"
    return None


def shown(s: Setting, value: Any) -> str:
    return "a secret value" if s.secret else repr(value)


def number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def duration(text: str) -> float:
    text = text.strip().lower()
    for suffix, scale in _UNITS:
        if text.endswith(suffix):
            return number(text[: -len(suffix)]) * scale
    return number(text)


def from_toml(s: Setting, raw: Any) -> Any:
    """Check a value from the TOML file; ints are accepted where floats are."""
    t, is_number = s.type, isinstance(raw, int | float) and not isinstance(raw, bool)
    if (t is str and isinstance(raw, str)) or (t is bool and isinstance(raw, bool)):
        return raw
    if t is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if t in (float, Duration) and is_number:
        if not math.isfinite(raw):
            raise Problem(f"must be a finite number, got {raw}")
        return float(raw)
    if t is Duration and isinstance(raw, str):
        return from_text(s, raw)
    if t == list[str] and isinstance(raw, list) and all(isinstance(i, str) for i in raw):
        return tuple(raw)
    got = next((w for kind, w in _TOML_KINDS.items() if isinstance(raw, kind)), "a date/time")
    if t == list[str] and isinstance(raw, list):
        got = "an array with a non-string item"
    if not s.secret and isinstance(raw, str | int | float):
        got += f" ({raw!r})"
    raise Problem(f"expected {_EXPECTED[t]}, got {got}")


def from_text(s: Setting, raw: str) -> Any:
    """Parse the text form (environment variables; duration strings in TOML)."""
    t = s.type
    if t is str:
        return raw
    if t == list[str]:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    try:
        if t is bool:
            return _BOOLS[raw.strip().lower()]
        if t is int:
            return int(raw.strip())
        return duration(raw) if t is Duration else number(raw.strip())
    except (KeyError, ValueError):
        expected = "true/false, yes/no, on/off or 1/0" if t is bool else _EXPECTED[t]
        raise Problem(f"expected {expected}, got {shown(s, raw)}") from None


def read_secret_file(s: Setting, name: Any, base: Path) -> Any:
    """A secret file (`name` relative to `base`): stripped text, or for a list one item per
    line, blank lines and # comments skipped."""
    if not isinstance(name, str) or not name:
        raise Problem("must be a file name")
    path = base / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Problem(f"cannot read secret file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise Problem(f"secret file {str(path)!r} is not UTF-8 text") from None
    if s.type == list[str]:
        lines = (line.strip() for line in text.splitlines())
        return tuple(line for line in lines if line and not line.startswith("#"))
    return text.strip()


def fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check(s: Setting, value: Any) -> Any:
    if s.choices is not None:
        if isinstance(value, str) and value.lower() in s.choices:
            value = value.lower()
        if value not in s.choices:
            options = ", ".join(str(c) for c in s.choices)
            raise Problem(f"must be one of {options}; got {shown(s, value)}")
    if s.type is Duration and s.min is None and value <= 0:
        raise Problem(f"must be > 0, got {fmt(value)}")
    if s.min is not None and value < s.min:
        raise Problem(f"must be >= {fmt(s.min)}, got {fmt(value)}")
    if s.max is not None and value > s.max:
        raise Problem(f"must be <= {fmt(s.max)}, got {fmt(value)}")
    message = s.validate(value) if s.validate else None
    if message:
        raise Problem(message)
    return value
