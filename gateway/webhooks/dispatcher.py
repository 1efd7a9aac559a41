"""The webhook outbox dispatcher: delivers outbox rows over keep-alive HTTP, with retries.

Threads: one claimer (`webhook-claimer`) and the transport's (gateway/webhooks/
transport.py). The claimer leases due rows from the store (`claim_outbox`, which counts
the attempt), up to PREFETCH per request slot (`concurrency` slots) so one claim (one
store round trip) feeds many deliveries, and hands them over through a bounded queue. It
claims when woken (`wake()`, called after new outbox rows commit, and whenever enough
slots have finished); otherwise when the first pending row falls due (a cheap read
tells when), or after IDLE_CLAIM_INTERVAL at the latest. The transport takes the rows
from that queue, up to `concurrency` requests in flight at once, and gives each reply
back (`done`), whose outcome the dispatcher then records. Requests are independent: a
slow receiver holds only the slots that are talking to it, and the intake never waits
for any of this.

The transport is pycurl's multi interface (`CurlTransport`: one thread, `webhook-
transfers`, drives every request) unless another is injected; urllib3 on `concurrency`
threads (`Urllib3Transport`, `webhook-worker-N`) was the client before and is kept as
the second implementation. Why: measured with bench/webhook_client.py (10,000 POSTs of
416 bytes to a local keep-alive receiver, CPU of the client process, medians of 3), a
request cost 167-267 µs of CPU with urllib3 on threads and 26-38 µs with pycurl's multi
interface at concurrency 1, 8 and 32; http.client (77-87 µs), aiohttp (101-130 µs) and
httpx (346-779 µs) were measured too. The whole dispatcher with a SQLite store, at
concurrency 32, went from 272 to 101 µs per callback (docs/benchmarks.md, "Webhook
client").

Outcomes of one attempt:

- 2xx: delivered (`outbox_delivered`).
- network error, timeout, 408, 429, 5xx: retried after `backoff_delay(attempt,
  retry_min_delay, retry_max_delay)` (doubling, half jitter) or, on 429/503 with a
  Retry-After header, after that many seconds (capped by retry_max_delay); unless the row
  would then be older than `max_age`, when it becomes a dead letter with the last error.
- anything else (other 4xx, 3xx: redirects are not followed, an unusable URL): a dead
  letter at once. A URL is checked again before it is opened (gateway/webhooks/urls.py)
  and must target a host on webhooks.allowed_callback_hosts or the host of
  default_callback_url or inbound_url; one that fails is a dead letter, never sent.

Dead letters stay in the store with their last error; `smpp-gateway webhooks list-dead`
and `replay` (gateway/webhooks/admin.py) show and re-queue them.

Every request carries `X-Webhook-Id: <outbox row id>` (the same on every retry: receivers
drop duplicates), `X-Webhook-Attempt: <n>` (1 for the first try), `User-Agent:
smpp-gateway/<version>` and, with a body, the row's `Content-Type`. With a secret set, it
also carries `X-Webhook-Timestamp: <unix seconds>` and `X-Webhook-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>." + payload)>`, where the payload is the body
(empty when none) or, for GET, the path and query as sent on the request line; see
gateway/webhooks/signing.py, whose verify() receivers can copy.

Logs never carry the secret, bodies or query strings (URLs are logged as scheme, host and
path: a query string may hold message data).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway import metrics
from gateway.clients import Client
from gateway.config import WebhooksSettings
from gateway.model import OutboxItem
from gateway.smpp.backoff import backoff_delay
from gateway.store import Store, StoreError
from gateway.webhooks.attempt import (
    Attempt,
    Targets,
    build_request,
    host_of,
    judge,
    network_error,
    safe_url,
)
from gateway.webhooks.transport import Job, Reply, Transport, default_transport
from gateway.webhooks.urls import AllowList, Target, UnsafeUrl

log = logging.getLogger("gateway.webhooks")

DEPTH_REFRESH = 1.0  # seconds between outbox depth gauge refreshes
PREFETCH = 4  # rows leased per request slot: in flight plus waiting in the hand-off queue
STORE_ERROR_PAUSE = 1.0  # seconds the claimer waits after a failed claim
POLL_INTERVAL = 0.1  # seconds a thread waits before looking again (stop, hand-off)
IDLE_CLAIM_INTERVAL = 1.0  # seconds between claims while nothing is due and no wake-up


def lease_for(timeout: float) -> float:
    """How long a claim holds a row: it may wait behind PREFETCH - 1 others per request
    slot, each up to `timeout`, and the lease must outlast that."""
    return max(timeout * (PREFETCH + 2), 30.0)


class Dispatcher:
    """Delivers the store's webhook outbox; see the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: WebhooksSettings,
        *,
        clock: Callable[[], float] = time.time,
        transport: Transport | None = None,
        poll_interval: float = POLL_INTERVAL,
        clients: Sequence[Client] = (),
    ) -> None:
        self.store = store
        self._lease = lease_for(settings.timeout)
        self._poll = poll_interval
        # where webhooks may go: the allow-lists (global and the clients') and the
        # configured URLs' own hosts
        hosts = (*settings.allowed_callback_hosts,
                 *(h for c in clients for h in c.allowed_callback_hosts or ()))  # fmt: skip
        urls = (settings.default_callback_url, settings.inbound_url,
                *(c.callback_url for c in clients))  # fmt: skip
        self._targets = Targets(AllowList.parse(hosts).with_targets(urls))
        # a client's own signing of the webhooks that report its messages
        self._signing = {
            c.name: (c.webhook_secret, c.signature_scheme or settings.signature_scheme)
            for c in clients
            if c.webhook_secret
        }
        self.settings = settings
        self._clock = clock
        self._transport = transport or default_transport(settings)
        self._capacity = settings.concurrency * PREFETCH
        self._handoff: queue.Queue[OutboxItem] = queue.Queue(maxsize=self._capacity)
        self._assigned = 0  # items handed over and not yet finished
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failing_hosts: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering; the webhooks a dead dispatcher had leased are due at once."""
        if self._threads:
            raise RuntimeError("the dispatcher is already started")
        voided = self.store.void_webhook_leases()
        if voided:
            log.info("%d webhooks leased by the last run are due again", voided)
        self._stopping.clear()
        targets = [("webhook-claimer", self._claim_loop), *self._transport.loops(self)]
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; give requests in flight up to `timeout` seconds to finish.

        Rows still leased when this returns are retried after their lease expires (by
        this daemon after a restart, or by another one sharing the store).
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        self._transport.wake()
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("webhook threads still busy after %.1f s: %s", timeout, ", ".join(stuck))
        self._release_unstarted()
        self._threads = []
        if not stuck:
            self._transport.close()

    def wake(self) -> None:
        """New outbox rows are committed: claim now rather than at the next poll."""
        self._wake.set()

    def depth(self) -> int:
        """Webhooks pending in the outbox (also refreshes the gauge)."""
        depth = self.store.outbox_depth()
        metrics.WEBHOOK_OUTBOX_DEPTH.set(depth)
        return depth

    # -- the claimer -----------------------------------------------------------------

    def _claim_loop(self) -> None:
        next_depth = 0.0
        while not self._stopping.is_set():
            try:
                full = self._claim_once()
            except StoreError as exc:  # disk full, database gone: the store logs the cause
                log.warning("cannot claim webhooks: %s", exc)
                full = False
                self._wake.wait(STORE_ERROR_PAUSE)
            except Exception:  # the claimer outlives any one failure
                log.exception("cannot claim webhooks")
                full = False
                self._wake.wait(STORE_ERROR_PAUSE)
            if time.monotonic() >= next_depth:
                next_depth = time.monotonic() + DEPTH_REFRESH
                self._refresh_depth()
            if not full:  # a full batch: more may be due, go on once a worker is free
                self._wake.wait(self._idle_wait())
            self._wake.clear()

    def _idle_wait(self) -> float:
        """How long to wait for a wake-up before claiming again: until the first pending
        webhook falls due (a retry), at most IDLE_CLAIM_INTERVAL, at least the poll
        interval. A claim is a write transaction; this is a read, so an idle dispatcher
        costs almost nothing, and a lost wake-up costs latency, never a webhook."""
        try:
            due = self.store.outbox_next_due()
        except StoreError:
            return self._poll
        idle = max(self._poll, IDLE_CLAIM_INTERVAL)
        if due is None:
            return idle
        return min(idle, max(self._poll, due - self._clock()))

    def _claim_once(self) -> bool:
        """Claim to refill the hand-off queue; True when as many came as were asked for."""
        with self._lock:
            free = self._capacity - self._assigned
        if free <= 0 or not self.store.writable():  # a claim is a write: it would fail
            return False
        items = self.store.claim_outbox(free, self._lease)
        for item in items:
            self._hand_over(item)
        if items:
            self._transport.wake()
        return len(items) == free

    def _hand_over(self, item: OutboxItem) -> None:
        with self._lock:
            self._assigned += 1
        try:  # never blocks: at most `_capacity` items are assigned at once
            self._handoff.put(item, timeout=1.0)
        except queue.Full:
            with self._lock:
                self._assigned -= 1
            self._finish(
                self.store.outbox_retry,
                item.row.id,
                self._clock(),
                item.last_error or "not attempted: no idle worker",
            )

    def _refresh_depth(self) -> None:
        try:
            self.depth()
        except StoreError as exc:
            log.debug("cannot read the outbox depth: %s", exc)

    def _release_unstarted(self) -> None:
        """Items handed over that no worker took: due again now instead of at lease end."""
        while True:
            try:
                item = self._handoff.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._assigned -= 1
            try:
                self.store.outbox_retry(
                    item.row.id, self._clock(), item.last_error or "not attempted: stopping"
                )
            except StoreError as exc:
                log.warning("cannot release webhook %s: %s", item.row.id, exc)

    # -- the transport's side (transport.Jobs) --------------------------------------------

    def stopping(self) -> bool:
        return self._stopping.is_set()

    def take(self, wait: bool) -> Job | None:
        """The next row to send, as a Job; rows whose URL fails the check, or whose
        request cannot be made, are settled here and skipped. Never raises."""
        while True:
            try:
                item = self._handoff.get(timeout=self._poll) if wait else self._handoff.get_nowait()
            except queue.Empty:
                return None
            job = self._prepare(item)
            if job is not None:
                return job

    def done(self, job: Job, reply: Reply) -> None:
        try:
            self._settle(job.item, job.target, judge(reply, self._clock()))
        except Exception:  # the transport's thread survives anything one outcome does
            log.exception("webhook %s: unexpected error", job.item.row.id)
        finally:
            self._finished()

    def _prepare(self, item: OutboxItem) -> Job | None:
        """The item's Job, or None when it was settled at once (unusable URL...)."""
        target: Target | None = None
        try:
            metrics.WEBHOOK_ATTEMPTS.inc()
            target = self._targets.resolve(item.row.url)
            settings = self.settings
            secret, scheme = self._signing.get(
                item.row.client or "", (settings.secret, settings.signature_scheme)
            )
            request = build_request(item, target, secret, self._clock, scheme)
            return Job(item, target, request)
        except UnsafeUrl as exc:
            result = Attempt(0, f"unusable URL: {exc}")
        except Exception as exc:  # anything unexpected is retried, not lost
            log.exception("webhook %s: unexpected error", item.row.id)
            result = Attempt(None, network_error(exc))
        try:
            self._settle(item, target, result)
        except Exception:
            log.exception("webhook %s: unexpected error", item.row.id)
        finally:
            self._finished()
        return None

    def _finished(self) -> None:
        """One handed-over row is done with: claim again once a batch's room is free."""
        with self._lock:
            self._assigned -= 1
            room = self._capacity - self._assigned
        if room >= self.settings.concurrency:  # claim in batches, not one by one
            self._wake.set()

    def _settle(self, item: OutboxItem, target: Target | None, result: Attempt) -> None:
        """Record what one attempt came to: delivered, retried later, or a dead letter."""
        row = item.row
        now = self._clock()
        if result.delivered:
            self._delivered(item, now, target)
            return
        if not result.retryable:
            self._dead(item, result.error, now)
            return
        delay = self._retry_delay(item.attempts, result)
        if now - row.created_at + delay > self.settings.max_age:
            self._dead(
                item,
                f"{result.error} (still failing after {item.attempts} attempts,"
                f" max_age {self.settings.max_age:g} s)",
                now,
            )
            return
        self._finish(self.store.outbox_retry, row.id, now + delay, result.error)
        metrics.WEBHOOK_DELIVERIES.labels("retry").inc()
        host = target.shown_host if target else host_of(row.url)
        if host not in self._failing_hosts:
            self._failing_hosts.add(host)
            log.warning(
                "webhook receiver %s failing (%s); retrying with backoff", host, result.error
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "webhook %s to %s: %s; retry %d in %.2f s",
                row.id,
                target.shown_url if target else safe_url(row.url),
                result.error,
                item.attempts + 1,
                delay,
            )

    def _delivered(self, item: OutboxItem, now: float, target: Target | None) -> None:
        row = item.row
        self._finish(self.store.outbox_delivered, row.id, now)
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        metrics.WEBHOOK_LATENCY.observe(max(0.0, now - row.created_at))
        if self._failing_hosts and target is not None:
            host = target.shown_host
            if host in self._failing_hosts:
                self._failing_hosts.discard(host)
                log.info("webhook receiver %s answers again", host)
        if log.isEnabledFor(logging.DEBUG) and target is not None:
            log.debug(
                "webhook %s delivered to %s (attempt %d)", row.id, target.shown_url, item.attempts
            )

    def _retry_delay(self, attempts: int, result: Attempt) -> float:
        s = self.settings
        if result.retry_after is not None:
            return min(result.retry_after, s.retry_max_delay)
        return backoff_delay(attempts, s.retry_min_delay, s.retry_max_delay)

    def _dead(self, item: OutboxItem, error: str, now: float) -> None:
        self._finish(self.store.outbox_dead, item.row.id, error, now)
        metrics.WEBHOOK_DELIVERIES.labels("dead").inc()
        metrics.WEBHOOK_DEAD_LETTERS.inc()
        log.warning(
            "webhook %s (%s) to %s is a dead letter after %d attempts: %s",
            item.row.id,
            item.row.kind,
            safe_url(item.row.url),
            item.attempts,
            error,
        )

    def _finish(self, write: Callable[..., None], *args: Any) -> None:
        try:
            write(*args)
        except StoreError as exc:  # the lease runs out and the row is tried again
            log.warning("cannot record a webhook outcome: %s", exc)
