"""Webhook URLs: checked by two parsers that must agree, and the callback allow-list.

Why this exists: a per-message `callback` was checked with `urllib.parse.urlsplit` and
opened with urllib3, and the two read `http://127.0.0.1:28298\\@cb.example/x` as
different hosts (urlsplit: cb.example, allowed; urllib3: 127.0.0.1:28298, where the
request went). So a URL is now read by both and refused unless they agree on scheme, host
and port, and everything either parser treats specially is refused outright: anything
outside printable ASCII (whitespace, control characters, fullwidth look-alikes), the
backslash, user information (`user@`), zone ids, and IPv4 forms other than dotted-decimal
(`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`), which resolvers read as addresses.

`check_url` returns the `Target` with the URL in canonical form: scheme and host in lower
case, the host's trailing dot and an explicit default port (`:80`, `:443`) dropped, an
empty path as `/`, the fragment dropped (urllib3 never sends it). The path and query are
kept as written, so callback placeholders such as `<msgid>` survive until they are filled;
whatever urllib3 percent-encodes in them cannot change the target.

The same check runs when a callback is accepted (POST /sms), when a URL setting is loaded,
and again right before the dispatcher opens a URL (gateway/webhooks/attempt.py). The
default transport (pycurl) is then given only the checked scheme, host and port to connect
to, plus the request line built from the canonical URL, so no third parser decides where
a request goes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048  # of a callback as given; filled templates and query strings may be longer
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # a resolver reads such a host as an IP
_PORT = re.compile(r"[0-9]{1,5}")


class UnsafeUrl(ValueError):
    """Why a URL is refused; never quotes the URL (it may carry message data)."""


@dataclass(frozen=True)
class Target:
    """Where a URL really goes, and the URL as it is stored and opened."""

    scheme: str
    host: str  # lower case, no trailing dot; an IPv6 address without brackets, compressed
    port: int  # explicit or the scheme's default
    url: str
    request_uri: str  # path and query as urllib3 sends them on the request line

    @property
    def authority(self) -> str:
        """host:port, IPv6 in brackets: for messages and the allow-list."""
        return f"{_bracketed(self.host)}:{self.port}"

    def with_query(self, query: str) -> Target:
        """This target (of a URL without query or fragment) with `query` appended as
        written: only for a query urllib3 sends unchanged (see attempt.Targets)."""
        return Target(
            self.scheme, self.host, self.port, f"{self.url}?{query}", f"{self.request_uri}?{query}"
        )

    @property
    def url_host(self) -> str:
        """The host as a URL writes it (IPv6 in brackets), as urllib3's pools are keyed."""
        return _bracketed(self.host)

    @property
    def shown_host(self) -> str:
        """host, or host:port when the port is not the scheme's default: for logs."""
        host = self.url_host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"

    @property
    def shown_url(self) -> str:
        """scheme://host[:port]/path: no query (it may carry message data), for logs."""
        return f"{self.scheme}://{self.shown_host}{self.request_uri.partition('?')[0]}"


def check_url(url: str) -> Target:
    """The target of an absolute http(s) URL, or UnsafeUrl saying why it is refused."""
    _check_characters(url)
    try:
        split = urlsplit(url)
        split_port = split.port
        opened = parse_url(url)
    except (ValueError, LocationParseError):
        raise UnsafeUrl("is not a valid absolute http(s) URL (host or port unreadable)") from None
    scheme = split.scheme.lower()
    if scheme not in SCHEMES or (opened.scheme or "").lower() != scheme:
        raise UnsafeUrl("must be an absolute http(s) URL (http://host/... or https://host/...)")
    authority = _raw_authority(url, scheme)
    if "@" in authority or split.username is not None or opened.auth is not None:
        raise UnsafeUrl("must not contain user information (user@ before the host)")
    if not split.hostname or not opened.host:
        raise UnsafeUrl("must be an absolute http(s) URL naming a host")
    host = normal_host(split.hostname)
    port = SCHEMES[scheme] if split_port is None else split_port
    if not 1 <= port <= 65535:
        raise UnsafeUrl("must be an absolute http(s) URL with a port from 1 to 65535")
    if normal_host(opened.host) != host or (opened.port or SCHEMES[scheme]) != port:
        raise UnsafeUrl("is read differently by different URL parsers; write it plainly")
    shown_port = "" if port == SCHEMES[scheme] else f":{port}"
    path = split.path or "/"
    query = f"?{split.query}" if split.query else ""
    canonical = f"{scheme}://{_bracketed(host)}{shown_port}{path}{query}"
    return Target(scheme, host, port, canonical, opened.request_uri)


def _check_characters(url: str) -> None:
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("must be an absolute http(s) URL")
    if not url.isascii():
        raise UnsafeUrl(
            "must be ASCII: percent-encode other characters and write an international "
            "host name in its xn-- form"
        )
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeUrl("must not contain whitespace or control characters")
    if "\\" in url:
        raise UnsafeUrl("must not contain a backslash")


def _raw_authority(url: str, scheme: str) -> str:
    """The text between `scheme://` and the path, as written (no parser's opinion)."""
    head = f"{scheme}://"
    if url[: len(head)].lower() != head:
        raise UnsafeUrl("must be an absolute http(s) URL (http://host/... or https://host/...)")
    return re.split(r"[/?#]", url[len(head) :], maxsplit=1)[0]


def normal_host(host: str) -> str:
    """Lower case, no trailing dot, IPv6 compressed without brackets; UnsafeUrl otherwise."""
    host = host.lower()
    if host.startswith("[") != host.endswith("]"):
        raise UnsafeUrl("has an unbalanced [ ] around its host")
    if host.startswith("[") or ":" in host:
        return _ipv6(host.strip("[]"))
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeUrl("must name a valid host (letters, digits, - and _ between dots)")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            address = None
        if address is None or str(address) != host:
            raise UnsafeUrl("must write an IPv4 address in dotted-decimal form (a.b.c.d)")
    return host


def _ipv6(text: str) -> str:
    if "%" in text:
        raise UnsafeUrl("must not name an IPv6 zone (%...)")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise UnsafeUrl("has an invalid IPv6 address in [ ]") from None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a host (or `*.domain`: any subdomain) and maybe a port."""

    host: str
    port: int | None
    subdomains: bool

    def allows(self, target: Target) -> bool:
        if self.port is not None and self.port != target.port:
            return False
        if self.subdomains:
            return target.host.endswith(f".{self.host}")
        return target.host == self.host


def parse_entry(text: str) -> AllowEntry:
    """`host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address, `*.domain[:port]`.

    An entry's default port is no port at all (any port): `cb.example:80` allows
    `http://cb.example/` and `http://cb.example:80/` alike, and not https (port 443)."""
    entry = text.strip().lower()
    host, port = entry, None
    head, colon, tail = entry.rpartition(":")
    if colon and _PORT.fullmatch(tail) and (entry.count(":") == 1 or head.endswith("]")):
        host, port = head, int(tail)
        if not 1 <= port <= 65535:
            raise UnsafeUrl(f"port must be 1..65535 in {text!r}")
    subdomains = host.startswith("*.")
    try:
        name = normal_host(host[2:] if subdomains else host)
    except UnsafeUrl as exc:
        raise UnsafeUrl(f"{text!r}: {exc}") from None
    if subdomains and ":" in name:
        raise UnsafeUrl(f"{text!r}: *. goes with a domain name, not an address")
    return AllowEntry(name, port, subdomains)


@dataclass(frozen=True)
class AllowList:
    """Where webhooks may go; empty allows nothing."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> AllowList:
        return cls(tuple(parse_entry(text) for text in texts))

    def with_targets(self, urls: Iterable[str]) -> AllowList:
        """Also allow the exact host:port of each (configured) URL; empty ones skipped."""
        extra = []
        for url in urls:
            if url:
                target = check_url(url)
                extra.append(AllowEntry(target.host, target.port, subdomains=False))
        return AllowList(self.entries + tuple(extra))

    def allows(self, target: Target) -> bool:
        return any(entry.allows(target) for entry in self.entries)


def allowed_hosts_problem(entries: tuple[str, ...]) -> str | None:
    """Config validation of webhooks.allowed_callback_hosts: None when every entry parses."""
    for text in entries:
        if not text.strip():
            return "items must not be empty"
        try:
            parse_entry(text)
        except UnsafeUrl as exc:
            return f"bad entry: {exc}"
    return None
