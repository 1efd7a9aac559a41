"""How webhook requests travel: the interface between the dispatcher and an HTTP client.

Why an interface: the HTTP client was most of the dispatcher's CPU per callback, and two
clients are worth keeping. The dispatcher (gateway/webhooks/dispatcher.py) decides what
to send and what an answer means (gateway/webhooks/attempt.py); a `Transport` only moves
`Request`s and brings back `Reply`s, on threads it names and the dispatcher runs:

- `CurlTransport` (gateway/webhooks/curl_transport.py, the default): pycurl's multi
  interface, one thread driving up to `concurrency` transfers; libcurl parses in C.
- `Urllib3Transport` (gateway/webhooks/urllib3_transport.py): `concurrency` threads, each
  making one blocking urllib3 request at a time through a shared PoolManager.

Both keep the same promises, and tests/unit/test_dispatcher.py runs every behaviour on
both: a total per-request timeout; redirects never followed; at most MAX_ANSWER bytes
of an answer read (a longer one costs its connection); https verified against the
system's CA certificates (as Python's ssl module finds them: SSL_CERT_FILE/SSL_CERT_DIR,
else OpenSSL's default paths); no proxy from the environment; at most `concurrency`
connections kept alive; the connection goes to the checked target's host and port and
its request URI goes on the request line byte for byte (the signature covers it).
bench/webhook_client.py measures them; docs/benchmarks.md ("Webhook client") has figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.model import OutboxItem
from gateway.webhooks.urls import Target

if TYPE_CHECKING:
    from gateway.config import WebhooksSettings

MAX_ANSWER = 64 * 1024  # bytes of an answer's body read; a longer one costs its connection
RETRY_AFTER_STATUSES = frozenset({429, 503})  # whose Retry-After header a Reply carries


@dataclass(frozen=True)
class Request:
    """One HTTP request as it goes out: to `target` (checked: host, port, scheme and the
    request URI), with exactly these headers and body."""

    method: str  # upper case
    target: Target
    headers: dict[str, str]
    body: bytes | None  # None: no body (GET)


@dataclass(frozen=True)
class Reply:
    """What came back, before anyone judged it (attempt.judge does).

    status: the answer's status; None when no complete answer head came (network error,
    timeout: `error` says what); 0 when no request could be made at all (`error` says
    why). content: the start of the body (up to MAX_ANSWER + 1 bytes), None when the
    body broke off. retry_after: the Retry-After header, read on 429 and 503 only."""

    status: int | None
    reason: str = ""
    content: bytes | None = b""
    retry_after: str | None = None
    error: str = ""


@dataclass(frozen=True)
class Job:
    """A claimed outbox row on its way: the row, where it goes, and the request."""

    item: OutboxItem
    target: Target
    request: Request


class Jobs(Protocol):
    """Where a transport takes its work from and hands the replies to (the dispatcher)."""

    def take(self, wait: bool) -> Job | None:
        """The next job; None if there is none (after a short wait when `wait`)."""
        ...

    def done(self, job: Job, reply: Reply) -> None:
        """The job's reply; never raises."""
        ...

    def stopping(self) -> bool:
        """True once the dispatcher stops: take nothing more, finish what is in flight."""
        ...


class Transport(Protocol):
    """Carries requests; how many at once and on which threads is its own business."""

    def loops(self, jobs: Jobs) -> list[tuple[str, Callable[[], None]]]:
        """(thread name, loop) pairs the dispatcher runs on threads. Each loop takes jobs
        until jobs.stopping(), then returns once its requests in flight have ended."""
        ...

    def wake(self) -> None:
        """Jobs are waiting: a loop sleeping on its sockets should look at once."""
        ...

    def close(self) -> None:
        """Drop the connections kept alive; called after the loops have returned."""
        ...


def default_transport(settings: WebhooksSettings) -> Transport:
    """The transport the daemon uses: pycurl's multi interface (see the module doc)."""
    from gateway.webhooks.curl_transport import CurlTransport

    return CurlTransport(settings.concurrency, settings.timeout)
