"""One webhook HTTP attempt: the request as sent, and what its answer means; no state.

Kept apart from the dispatcher (threads, scheduling, the store) and from the transports
(gateway/webhooks/transport.py: how bytes travel) so the rules are in one place: 2xx
delivers; a network error, timeout, 408, 429 or 5xx may be retried (429/503 with their
Retry-After); anything else, 3xx included (redirects are not followed), is final. Error
texts never carry a URL's query string.

Before anything is sent, the row's URL is checked again as it was when it was accepted
(gateway/webhooks/urls.py; a row stored by an older version, or a URL from the config,
gets no pass) and, with an allow-list, its host must be on it (`Targets`): a URL that
fails is final ("unusable URL: ..."), never opened. What is opened is the checked target:
its host, port and scheme pick the connection, its request URI goes on the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from gateway import __version__
from gateway.model import OutboxItem
from gateway.webhooks import signing
from gateway.webhooks.transport import RETRY_AFTER_STATUSES, Reply, Request
from gateway.webhooks.urls import AllowList, Target, UnsafeUrl, check_url

USER_AGENT = f"smpp-gateway/{__version__}"
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
ERROR_BODY_CHARS = 200  # of a failed response's body kept in the error text
_OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>:? ?")
_QUERY = re.compile(r"\?\S*")
_PLAIN_QUERY = re.compile(r"(?:[A-Za-z0-9_.~+=&-]|%[0-9A-F]{2})*")  # as urllib3 sends it
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Attempt:
    """What one HTTP attempt came to: the answer's status (None on a network error or
    timeout, 0 when no request could be made at all) and the error text (empty on 2xx)."""

    status: int | None
    error: str
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Network errors, timeouts, 408, 429 and 5xx; the rest is final."""
        return self.status is None or self.status in RETRY_STATUSES


def build_request(
    item: OutboxItem,
    target: Target,
    secret: str,
    clock: Callable[[], float],
    scheme: str = "hmac-sha256",
) -> Request:
    """The request for one attempt of `item` to its checked `target` (Targets.resolve):
    X-Webhook-* headers, User-Agent, the row's Content-Type with a body, and with a secret
    the signature over the body or, for GET, over the request URI as it goes on the line.

    ValueError if a header value from the row would break the header block (no transport
    may be handed a line break to send)."""
    row = item.row
    headers = {
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": row.id,
        "X-Webhook-Attempt": str(item.attempts),
    }
    method = row.method.upper()
    body = row.body if method != "GET" else None
    if body is not None and row.content_type:
        headers["Content-Type"] = row.content_type
    for name, value in headers.items():
        if _BAD_HEADER_VALUE.search(value):
            raise ValueError(f"invalid header value for {name}: control characters")
    if secret and scheme == "standard-webhooks":
        headers.update(signing.standard_headers(secret, row.id, int(clock()), body or b""))
    elif secret:
        data = signing.payload(method, target.request_uri, body)
        headers.update(signing.signature_headers(secret, int(clock()), data))
    return Request(method, target, headers, body)


def judge(reply: Reply, now: float) -> Attempt:
    """What a transport's reply means for the webhook (see the module docstring)."""
    status = reply.status
    if not status:  # None: no answer; 0: no request made
        return Attempt(status, reply.error)
    if 200 <= status < 300:
        return Attempt(status, "")  # even if the body broke off: the receiver said yes
    error = f"HTTP {status} {reply.reason}".strip()
    if reply.content is None:
        return Attempt(None, f"{error}, then the connection broke")
    text = strip_urls(reply.content.decode("utf-8", "replace"))  # an error page may echo the URL
    if text:
        error += f": {text[:ERROR_BODY_CHARS]}"
    wait = None
    if status in RETRY_AFTER_STATUSES:
        wait = retry_after(reply.retry_after, now)
    return Attempt(status, error, wait)


class Targets:
    """Checks webhook URLs before they are opened, and remembers the answers.

    The check (gateway/webhooks/urls.py, then the allow-list) is pure, and most webhooks
    of a daemon go to a handful of URLs, so the answers are kept, up to CACHE_SIZE URLs
    (then the memory starts afresh). One per dispatcher; safe to share between threads.

    GET callbacks carry their data in the query, so each URL is new. Where a query holds
    only characters urllib3 sends as they are (what urlencode writes: letters, digits,
    `-_.~+=&` and upper-case %XX), it cannot change the host, port or path either parser
    reads, so the URL without it is checked (and remembered) and the query appended."""

    CACHE_SIZE = 4096

    def __init__(self, allowed: AllowList | None = None) -> None:
        self._allowed = allowed
        self._known: dict[str, Target | UnsafeUrl] = {}

    def resolve(self, url: str) -> Target:
        """The URL's checked target, or UnsafeUrl saying why it must not be opened."""
        base, _, query = url.partition("?")
        if query and "#" not in url and _PLAIN_QUERY.fullmatch(query):
            return self._resolve(base).with_query(query)
        return self._resolve(url)

    def _resolve(self, url: str) -> Target:
        known = self._known.get(url)
        if known is None:
            try:
                known = self._check(url)
            except UnsafeUrl as exc:
                known = exc
            if len(self._known) >= self.CACHE_SIZE:
                self._known = {}
            self._known[url] = known
        if isinstance(known, UnsafeUrl):
            raise known
        return known

    def _check(self, url: str) -> Target:
        target = check_url(url)
        if self._allowed is not None and not self._allowed.allows(target):
            raise UnsafeUrl(
                f"{target.authority} is neither on webhooks.allowed_callback_hosts nor the "
                "host of a configured webhook URL"
            )
        return target


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def network_error(exc: BaseException) -> str:
    text = _OBJECT_REPR.sub("", str(exc))
    return f"{type(exc).__name__}: {strip_urls(text)}"


def strip_urls(text: str) -> str:
    """One line, without anything that looks like a query string (`?...` up to a space):
    HTTP clients' messages and receivers' error pages may quote the request target."""
    return " ".join(_QUERY.sub("", text).split())


def host_of(url: str) -> str:
    """host[:port] as urllib3 reads it (one of the URL check's two parsers), for logs of
    URLs that failed the check."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return "(unreadable URL)"
    if not parts.host:
        return "(no host)"
    return parts.host if parts.port is None else f"{parts.host}:{parts.port}"


def safe_url(url: str) -> str:
    """scheme://host[:port]/path as urllib3 reads it: no user info, query or fragment."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return "(unreadable URL)"
    return f"{parts.scheme}://{host_of(url)}{parts.path or ''}"
