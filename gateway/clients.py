"""Clients: the calling systems, each with its API keys and its own policy (issue 14).

Several internal systems share one SMPP account through the gateway. A client is one of
them: a name, one or more API keys (two during a rotation) and what it may do: which
senders, which destinations, how fast, from which addresses. Configured as TOML tables:

    [clients.crm]
    api_keys = ["sha256:9f86d0...", "sha256:..."]   # or plain keys (then the file is a secret)
    senders = ["Acme*", "12345"]                     # fnmatch patterns; empty: any
    default_sender = "Acme"                          # used when a request has no `from`
    allowed_countries = ["DE", "AT"]                 # ISO alpha-2 or alpha-3; empty: any
    denied_countries = []
    allowed_prefixes = []                            # E.164 digits the number starts with
    denied_prefixes = ["4490"]
    rate = 50.0                                      # SMS parts per second; 0: no limit
    burst = 50.0                                     # parts at once (default: rate)
    quota_day = 10000                                # SMS parts per UTC day; 0: none
    quota_month = 200000                             # per UTC calendar month
    callback_url = "https://crm.example/sms-status"  # default callback of its messages
    allowed_callback_hosts = ["crm.example"]         # per-message callbacks (else webhooks')
    account_name = "crm"                             # /usage/bycountry: this client only
    allowed_ips = ["10.0.0.0/8", "::1/128"]          # CIDRs; empty: any address

A key is matched by its SHA-256, so the file may hold only hashes: no usable secret
(`smpp-gateway clients new-key NAME` makes a key and prints it once, with the line to
paste). The global `http.api_keys` keep working as the client named `default`, with no
policy, so an existing install needs no change. Pure: parsing and decisions, no I/O.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import countries
from gateway.config_values import callback_hosts, http_url
from gateway.webhooks.signing import standard_key

DEFAULT = "default"  # the client the global http.api_keys belong to
HASH_PREFIX = "sha256:"
NAME_RULE = "1-64 letters, digits, '_', '.', '-'"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_ALPHA3 = frozenset(countries.ALPHA3.values())

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def key_hash(key: str) -> str:
    """The SHA-256 (hex) a key is known by."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Client:
    """One calling system and its policy; every limit optional (empty or 0: none)."""

    name: str
    key_hashes: frozenset[str] = frozenset()
    senders: tuple[str, ...] = ()
    default_sender: str = ""
    allowed_countries: frozenset[str] = frozenset()  # alpha-3
    denied_countries: frozenset[str] = frozenset()
    allowed_prefixes: tuple[str, ...] = ()
    denied_prefixes: tuple[str, ...] = ()
    rate: float = 0.0
    burst: float = 0.0
    allowed_ips: tuple[Network, ...] = field(default=())
    quota_day: int = 0  # SMS parts per UTC day; 0: none
    quota_month: int = 0  # per UTC calendar month
    callback_url: str = ""  # its messages' callbacks when a request names none
    allowed_callback_hosts: tuple[str, ...] | None = None  # None: webhooks' list
    account_name: str = ""  # /usage/bycountry's accountName: this client's traffic only
    signature_scheme: str = ""  # its callbacks' signing; "": webhooks.signature_scheme
    webhook_secret: str = field(default="", repr=False)  # "": webhooks.secret

    def sender_refusal(self, sender: str) -> str | None:
        """Why this client may not send as `sender` (None: it may)."""
        if not self.senders or any(fnmatch.fnmatchcase(sender, p) for p in self.senders):
            return None
        return f"sender {sender!r} is not allowed for client {self.name!r}"

    def receiver_refusal(self, receiver: str) -> str | None:
        """Why this client may not send to `receiver` (E.164 digits; None: it may)."""
        if any(receiver.startswith(p) for p in self.denied_prefixes):
            return f"receiver {receiver} is on a denied prefix of client {self.name!r}"
        if self.allowed_prefixes and not any(receiver.startswith(p) for p in self.allowed_prefixes):
            return f"receiver {receiver} is on no allowed prefix of client {self.name!r}"
        if self.allowed_countries or self.denied_countries:
            country = countries.country_of(receiver)
            if country in self.denied_countries or (
                self.allowed_countries and country not in self.allowed_countries
            ):
                return f"client {self.name!r} may not send to {country} ({receiver})"
        return None

    def admits(self, address: str) -> bool:
        """Whether a request from `address` may use this client's keys."""
        if not self.allowed_ips:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.allowed_ips)


class Directory:
    """Every client, found by the hash of a presented key."""

    def __init__(self, clients: tuple[Client, ...]) -> None:
        self.clients = clients
        self._by_hash = {h: c for c in clients for h in c.key_hashes}

    def find(self, presented: str) -> Client | None:
        return self._by_hash.get(key_hash(presented))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.clients)


def parse(table: Any, global_keys: tuple[str, ...]) -> tuple[tuple[Client, ...], list[str]]:
    """The [clients] tables (and the global keys as client `default`): clients, problems."""
    problems: list[str] = []
    found: list[Client] = []
    if global_keys:
        found.append(Client(DEFAULT, frozenset(key_hash(k) for k in global_keys)))
    if table is None:
        return tuple(found), problems
    if not isinstance(table, Mapping):
        return tuple(found), ["clients: expected [clients.NAME] tables"]
    for name, values in table.items():
        where = f"clients.{name}"
        if not _NAME.match(str(name)) or (name == DEFAULT and global_keys):
            problems.append(
                f"{where}: a client name is 1-64 letters, digits, '_', '.', '-'"
                " (and `default` is the global http.api_keys' when those are set)"
            )
            continue
        if not isinstance(values, Mapping):
            problems.append(f"{where}: expected a table")
            continue
        client, more = _client(str(name), values, where)
        problems += more
        if client is not None:
            found.append(client)
    seen: dict[str, str] = {}
    for client in found:
        for h in client.key_hashes:
            if h in seen and seen[h] != client.name:
                problems.append(f"clients.{client.name}: a key of client {seen[h]!r} too")
            seen[h] = client.name
    return tuple(found), problems


_KEYS = {
    "api_keys", "senders", "default_sender", "allowed_countries", "denied_countries",
    "allowed_prefixes", "denied_prefixes", "rate", "burst", "allowed_ips", "quota_day",
    "quota_month", "callback_url", "allowed_callback_hosts", "account_name", "signature_scheme",
    "webhook_secret", "webhook_secret_file",
}  # fmt: skip
SCHEMES = ("", "hmac-sha256", "standard-webhooks")


def _client(name: str, values: Mapping[str, Any], where: str) -> tuple[Client | None, list[str]]:
    problems = [f"{where}.{k}: unknown key" for k in values if k not in _KEYS]
    try:
        hashes = frozenset(_hash_of(k) for k in _strings(values, "api_keys"))
        if not hashes:
            raise ValueError("api_keys: at least one key (or sha256:<hex> of one)")
        rate = _number(values, "rate")
        client = Client(
            name=name,
            key_hashes=hashes,
            senders=_strings(values, "senders"),
            default_sender=str(values.get("default_sender", "")),
            allowed_countries=_countries(values, "allowed_countries"),
            denied_countries=_countries(values, "denied_countries"),
            allowed_prefixes=_digits(values, "allowed_prefixes"),
            denied_prefixes=_digits(values, "denied_prefixes"),
            rate=rate,
            burst=_number(values, "burst") or rate,
            allowed_ips=_networks(values, "allowed_ips"),
            quota_day=int(_number(values, "quota_day")),
            quota_month=int(_number(values, "quota_month")),
            callback_url=_callback_url(values),
            allowed_callback_hosts=_callback_hosts(values),
            account_name=str(values.get("account_name", "")),
            **_signing(values),
        )
    except ValueError as exc:
        return None, [*problems, f"{where}.{exc}"]
    if client.default_sender and client.sender_refusal(client.default_sender):
        problems.append(f"{where}.default_sender: not one of its senders")
    return client, problems


def _strings(values: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = values.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
        raise ValueError(f"{key}: expected a list of non-empty strings")
    return tuple(x.strip() for x in raw)


def _hash_of(key: str) -> str:
    if key.startswith(HASH_PREFIX):
        digest = key[len(HASH_PREFIX) :].lower()
        if not _HASH.match(digest):
            raise ValueError("api_keys: sha256: must be followed by 64 hex digits")
        return digest
    return key_hash(key)


def _countries(values: Mapping[str, Any], key: str) -> frozenset[str]:
    codes = set()
    for code in _strings(values, key):
        upper = code.upper()
        alpha3 = countries.ALPHA3.get(upper, upper if upper in _ALPHA3 else None)
        if alpha3 is None:
            raise ValueError(f"{key}: {code!r} is no ISO 3166 alpha-2 or alpha-3 country code")
        codes.add(alpha3)
    return frozenset(codes)


def _digits(values: Mapping[str, Any], key: str) -> tuple[str, ...]:
    prefixes = tuple(p.lstrip("+") for p in _strings(values, key))
    if not all(p.isdigit() for p in prefixes):
        raise ValueError(f"{key}: prefixes are digits (an E.164 number's start)")
    return prefixes


def _networks(values: Mapping[str, Any], key: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c) for c in _strings(values, key))
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _signing(values: Mapping[str, Any]) -> dict[str, str]:
    """signature_scheme and webhook_secret (or the content of webhook_secret_file)."""
    scheme = str(values.get("signature_scheme", ""))
    if scheme not in SCHEMES:
        raise ValueError(f"signature_scheme: one of {', '.join(s for s in SCHEMES if s)}")
    secret = str(values.get("webhook_secret", ""))
    if "webhook_secret_file" in values:
        try:
            with open(str(values["webhook_secret_file"]), encoding="utf-8") as handle:
                secret = handle.read().strip()
        except OSError as exc:
            raise ValueError(f"webhook_secret_file: cannot read it: {exc.strerror}") from None
    if scheme == "standard-webhooks" and standard_key(secret) is None:
        raise ValueError("webhook_secret: standard-webhooks needs whsec_ and 24 to 64 bytes"
                         " in base64")  # fmt: skip
    if scheme and not secret:
        raise ValueError("signature_scheme: needs its webhook_secret")
    return {"signature_scheme": scheme, "webhook_secret": secret}


def _callback_url(values: Mapping[str, Any]) -> str:
    """Checked as webhooks.default_callback_url is (config_values.http_url)."""
    url = str(values.get("callback_url", ""))
    problem = http_url(url)
    if problem:
        raise ValueError(f"callback_url: {problem}")
    return url


def _callback_hosts(values: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "allowed_callback_hosts" not in values:
        return None
    hosts = _strings(values, "allowed_callback_hosts")
    problem = callback_hosts(hosts)
    if problem:
        raise ValueError(f"allowed_callback_hosts: {problem}")
    return hosts


def _number(values: Mapping[str, Any], key: str) -> float:
    raw = values.get(key, 0)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise ValueError(f"{key}: expected a number >= 0")
    return float(raw)


def new_key(name: str) -> tuple[str, str]:
    """A fresh key and the config line that names it by its hash only."""
    key = secrets.token_urlsafe(32)
    return key, f'[clients.{name}]\napi_keys = ["{HASH_PREFIX}{key_hash(key)}"]'


def quota_periods(client: Client, now: float) -> list[tuple[str, int, float]]:
    """(period key, limit, when it resets) of each quota the client has, at `now` (UTC)."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found = []
    if client.quota_day:
        found.append((day.strftime("%Y-%m-%d"), client.quota_day, (day + timedelta(days=1))))
    if client.quota_month:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        found.append((first.strftime("%Y-%m"), client.quota_month, following))
    return [(key, limit, reset.timestamp()) for key, limit, reset in found]
