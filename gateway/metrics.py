"""Every Prometheus metric of the gateway, defined once.

Names are `smpp_gateway_*`, a base unit is in the name (`_seconds`), counters end in
`_total`, and label values are bounded: endpoint names, status names, session names,
reasons from fixed sets. Never a phone number, an id or free text.

The registry is the one piece of module-level mutable state the project allows.

Every process of the daemon (HTTP workers, engine, dispatcher) counts into its own files
under $PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, set by the master
before this module is imported); `exposition()` adds them up into one /metrics. Each
gauge says how: `livesum` for what live processes own (the engine's sessions, writes
waiting for a retry), `mostrecent` for what the store says (set at scrape time by the
process answering it; some also once a second by the engine or the dispatcher).

Every HELP text ends with `Unit: <unit>.`: seconds where the name ends in `_seconds`,
else what one unit of the value counts (messages, segments, ...). docs/operations.md
lists every metric with the same unit (tests/unit/test_metrics_doc.py checks both).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from gateway.store.base import Effects, Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REGISTRY = CollectorRegistry(auto_describe=True)
if MULTIPROC_ENV not in os.environ:  # one process: its own process_* and python_* families
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# -- HTTP ---------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "smpp_gateway_http_requests_total",
    "HTTP requests by endpoint and HTTP status. Unit: requests.",
    ["endpoint", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "smpp_gateway_http_request_duration_seconds",
    "Time to answer an HTTP request. Unit: seconds.",
    ["endpoint"],
    buckets=_FAST,
    registry=REGISTRY,
)
API_RESPONSE_CODES = Counter(
    "smpp_gateway_api_response_codes_total",
    "Provider responseCode values returned, per receiver. Unit: receivers.",
    ["code"],
    registry=REGISTRY,
)
CLIENT_RESPONSE_CODES = Counter(
    "smpp_gateway_client_response_codes_total",
    "Provider responseCode values returned, per receiver, by client ([clients.NAME]; "
    "`default`: http.api_keys). Unit: receivers.",
    ["client", "code"],
    registry=REGISTRY,
)


def response_codes(code: str, count: int, client: str) -> None:
    """`count` receivers answered `code` for `client` (labels bounded: configured clients)."""
    API_RESPONSE_CODES.labels(code).inc(count)
    CLIENT_RESPONSE_CODES.labels(client, code).inc(count)


# -- Sends --------------------------------------------------------------------------------
MESSAGES_ACCEPTED = Counter(
    "smpp_gateway_messages_accepted_total",
    "Messages made durable and answered with responseCode 0. Unit: messages.",
    registry=REGISTRY,
)
SEGMENTS_SUBMITTED = Counter(
    "smpp_gateway_segments_submitted_total",
    "Segments the SMSC accepted (submit_sm_resp status 0). Unit: segments.",
    registry=REGISTRY,
)
SUBMIT_RESPONSES = Counter(
    "smpp_gateway_submit_responses_total",
    "submit_sm outcomes by command_status name (timeouts and lost links included). "
    "Unit: submit_sm.",
    ["status"],
    registry=REGISTRY,
)
SUBMIT_LATENCY = Histogram(
    "smpp_gateway_submit_latency_seconds",
    "From acceptance of a message to the submit_sm_resp of its last segment. Unit: seconds.",
    buckets=_SLOW,
    registry=REGISTRY,
)
MESSAGES_FAILED = Counter(
    "smpp_gateway_messages_failed_total",
    "Messages that ended failed before delivery, by reason. Unit: messages.",
    ["reason"],
    registry=REGISTRY,
)
SUBMIT_RETRIES = Counter(
    "smpp_gateway_submit_retries_total",
    "Segments scheduled again after a transient failure, by status name. Unit: segments.",
    ["status"],
    registry=REGISTRY,
)
POSSIBLE_DUPLICATES = Counter(
    "smpp_gateway_possible_duplicates_total",
    "Segments written to the SMSC and never answered (a crash, a lost link, a response "
    "timeout), then submitted again: the SMSC may have them twice (at-least-once). Unit: segments.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "smpp_gateway_queue_depth_messages",
    "Messages accepted and not yet fully submitted. Unit: messages.",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
SESSION_INFLIGHT = Gauge(
    "smpp_gateway_session_inflight_segments",
    "submit_sm awaiting a response, per session. Unit: segments.",
    ["session"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

SESSION_WINDOW = Gauge(
    "smpp_gateway_session_window_segments",
    "The session's submit window: submit_sm it may have unanswered at once (adaptive: "
    "grows and shrinks, gateway/smpp/flow.py). Unit: segments.",
    ["session"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SESSION_PACE = Gauge(
    "smpp_gateway_session_pace_per_second",
    "The pace a session keeps since the SMSC throttled it; 0 while unpaced. Unit: submit_sm "
    "per second.",
    ["session"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SUBMIT_ROUND_TRIP = Histogram(
    "smpp_gateway_submit_round_trip_seconds",
    "From writing a submit_sm to reading its response, per session. Unit: seconds.",
    ["session"],
    buckets=_FAST,
    registry=REGISTRY,
)
SUBMIT_CONGESTION = Counter(
    "smpp_gateway_session_congestion_total",
    "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL, or unanswered within "
    "smpp.response_timeout, per session and kind (throttled, timeout). Unit: submit_sm.",
    ["session", "kind"],
    registry=REGISTRY,
)
CLIENT_RATE_LIMITED = Counter(
    "smpp_gateway_client_rate_limited_total",
    "Requests answered 429 because the client's rate (clients.NAME.rate) was spent; "
    "nothing of them was stored. Unit: requests.",
    ["client"],
    registry=REGISTRY,
)
CLIENT_QUOTA_SPENT = Counter(
    "smpp_gateway_client_quota_spent_total",
    "Requests answered 429 because the client's quota of the day or month "
    "(clients.NAME.quota_day, quota_month) was spent; nothing of them was stored. "
    "Unit: requests.",
    ["client"],
    registry=REGISTRY,
)
SUBMIT_RATE = Gauge(
    "smpp_gateway_submit_rate_per_second",
    "submit_sm written over the last second by this daemon's sessions together. Unit: "
    "submit_sm per second.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SUBMIT_RATE_CAP = Gauge(
    "smpp_gateway_submit_rate_cap_per_second",
    "smpp.max_rate: the account's submit rate cap shared by every daemon on the store; 0: "
    "none. Unit: submit_sm per second.",
    multiprocess_mode="max",
    registry=REGISTRY,
)

# -- Sessions -----------------------------------------------------------------------------
SESSION_BOUND = Gauge(
    "smpp_gateway_session_bound",
    "1 while the session is bound, else 0. Unit: 0 or 1.",
    ["session"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SESSION_BINDS = Counter(
    "smpp_gateway_session_binds_total",
    "Successful binds per session. Unit: binds.",
    ["session"],
    registry=REGISTRY,
)
SESSION_UNBINDS = Counter(
    "smpp_gateway_session_link_losses_total",
    "Bound sessions that lost their link, by reason class. Unit: link losses.",
    ["session", "reason"],
    registry=REGISTRY,
)

# -- Store --------------------------------------------------------------------------------
STORE_COMMIT_BATCH = Histogram(
    "smpp_gateway_store_commit_batch_operations",
    "Operations grouped in one store commit. Unit: operations.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
    registry=REGISTRY,
)
STORE_COMMIT_SECONDS = Histogram(
    "smpp_gateway_store_commit_seconds",
    "Time of one store commit (group). Unit: seconds.",
    buckets=_FAST,
    registry=REGISTRY,
)


def observe_commit(operations: int, seconds: float) -> None:
    """Store hook: one call per group commit."""
    STORE_COMMIT_BATCH.observe(operations)
    STORE_COMMIT_SECONDS.observe(seconds)


# -- Store: write health (disk full, I/O errors, lost database; docs/durability.md) ---------
STORE_WRITABLE = Gauge(
    "smpp_gateway_store_writable",
    "1 while the store commits writes; 0 from a failed write until a probe write commits. "
    "Unit: 0 or 1.",
    multiprocess_mode="mostrecent",  # the engine's, or the scraped HTTP worker's
    registry=REGISTRY,
)
STORE_UNRECORDED_WRITES = Gauge(
    "smpp_gateway_store_unrecorded_writes",
    "Writes made after the SMSC or a webhook receiver answered that the store has not "
    "committed yet; kept in memory and retried. Unit: writes.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
STORE_WRITE_FAILURES = Counter(
    "smpp_gateway_store_write_failures_total",
    "Store transactions that failed because the store did (not the operation). Unit: transactions.",
    registry=REGISTRY,
)


# -- Store: sharing work between daemons (PostgreSQL), retention ----------------------------
STORE_CLAIMS = Counter(
    "smpp_gateway_store_claims_total",
    "Messages this daemon claimed for submission. Unit: messages.",
    registry=REGISTRY,
)
STORE_LEASE_EXPIRIES = Counter(
    "smpp_gateway_store_lease_expiries_total",
    "Claims taken over from another daemon or engine whose lease had passed (it died or "
    "stalled). Unit: claims.",
    ["kind"],
    registry=REGISTRY,
)
RECEIPTS_CROSS_DAEMON = Counter(
    "smpp_gateway_receipts_cross_daemon_total",
    "Receipts that arrived on this daemon's bind for a message another daemon claimed. "
    "Unit: receipts.",
    registry=REGISTRY,
)
STORE_PURGED = Counter(
    "smpp_gateway_store_purged_total",
    "Rows deleted by retention: finished messages, inbound messages, receipts that never "
    "matched, delivered webhooks of stores before migration 0009. Unit: rows.",
    ["kind"],
    registry=REGISTRY,
)
for _kind in ("message", "webhook"):
    STORE_LEASE_EXPIRIES.labels(_kind)
for _kind in ("message", "webhook", "inbound", "receipt"):
    STORE_PURGED.labels(_kind)
del _kind

_STORE_EVENTS = {
    "claimed": STORE_CLAIMS,
    "lease_expired_message": STORE_LEASE_EXPIRIES.labels("message"),
    "lease_expired_webhook": STORE_LEASE_EXPIRIES.labels("webhook"),
    "cross_daemon_receipt": RECEIPTS_CROSS_DAEMON,
}


def observe_store_event(name: str, count: int) -> None:
    """Store hook (PostgreSQL backend): claims, lease expiries, cross-daemon receipts."""
    counter = _STORE_EVENTS.get(name)
    if counter is not None:
        counter.inc(count)


# -- API extras ---------------------------------------------------------------------------
CONVERSIONS = Counter(
    "smpp_gateway_conversions_total",
    "Messages marked converted through POST /sms/converted (first time only). Unit: messages.",
    registry=REGISTRY,
)
IDEMPOTENT_REPLAYS = Counter(
    "smpp_gateway_idempotent_replays_total",
    "Requests answered from a stored Idempotency-Key answer, sending nothing. Unit: requests.",
    registry=REGISTRY,
)

# -- Receipts and inbound messages ---------------------------------------------------------
RECEIPTS = Counter(
    "smpp_gateway_receipts_total",
    "Delivery receipts stored, by the provider state they report. Unit: receipts.",
    ["state"],
    registry=REGISTRY,
)
RECEIPTS_UNMATCHED = Counter(
    "smpp_gateway_receipts_unmatched_total",
    "Receipts that matched no submitted segment when they arrived (kept; matched later "
    "if their submit_sm_resp was still on its way). Unit: receipts.",
    registry=REGISTRY,
)
RECEIPTS_UNMATCHED_NOW = Gauge(
    "smpp_gateway_receipts_unmatched_now",
    "Receipts in the store that match no message. Unit: receipts.",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
RECEIPT_LATENCY = Histogram(
    "smpp_gateway_receipt_latency_seconds",
    "From the first submit_sm_resp of a message to its final state. Unit: seconds.",
    buckets=_SLOW,
    registry=REGISTRY,
)
MESSAGE_STATE_CHANGES = Counter(
    "smpp_gateway_message_state_changes_total",
    "Messages entering a state (the provider's names). Unit: messages.",
    ["state"],
    registry=REGISTRY,
)
DELIVER_REJECTED = Counter(
    "smpp_gateway_deliver_rejected_total",
    "deliver_sm answered with an error status, by reason (unreadable, store). Unit: PDUs.",
    ["reason"],
    registry=REGISTRY,
)
INBOUND_PARTS = Counter(
    "smpp_gateway_inbound_parts_total",
    "Inbound (MO) deliver_sm stored. Unit: PDUs.",
    registry=REGISTRY,
)
INBOUND_MESSAGES = Counter(
    "smpp_gateway_inbound_messages_total",
    "Inbound messages assembled, by whether every part arrived. Unit: messages.",
    ["complete"],
    registry=REGISTRY,
)


def observe_effects(effects: Effects) -> None:
    """Store hook: what a write did, counted once it has committed (never inside the
    transaction, which the writer may roll back and run again)."""
    for change in effects.changes:
        MESSAGE_STATE_CHANGES.labels(change.state.public).inc()
        if change.state.final and change.submitted_at is not None:
            RECEIPT_LATENCY.observe(max(0.0, change.at - change.submitted_at))
    for message in effects.inbound:
        INBOUND_MESSAGES.labels(str(message.complete).lower()).inc()


REASSEMBLY_TIMEOUTS = Counter(
    "smpp_gateway_inbound_reassembly_timeouts_total",
    "Inbound messages posted incomplete after the reassembly timeout. Unit: messages.",
    registry=REGISTRY,
)

# -- Webhooks -----------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "smpp_gateway_webhook_deliveries_total",
    "Webhook attempts by what came of them: delivered (2xx), retry (scheduled again), dead. "
    "Unit: attempts.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "smpp_gateway_webhook_attempts_total",
    "Webhook HTTP requests made (first tries and retries). Unit: requests.",
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "smpp_gateway_webhook_delivery_latency_seconds",
    "From the creation of an outbox row to the 2xx that delivered it (retries included). "
    "Unit: seconds.",
    buckets=_SLOW,
    registry=REGISTRY,
)
WEBHOOK_OUTBOX_DEPTH = Gauge(
    "smpp_gateway_webhook_outbox_depth",
    "Webhooks waiting in the outbox (pending, not yet delivered or dead). Unit: webhooks.",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
WEBHOOK_DEAD_LETTERS = Counter(
    "smpp_gateway_webhook_dead_letters_total",
    "Webhooks given up on: a permanent 4xx, or still failing at max_age. Unit: webhooks.",
    registry=REGISTRY,
)
for _outcome in ("delivered", "retry", "dead"):
    WEBHOOK_DELIVERIES.labels(_outcome)
del _outcome

# -- Sessions: bind failures, keep-alive ---------------------------------------------------
SESSION_BIND_FAILURES = Counter(
    "smpp_gateway_session_bind_failures_total",
    "Connect or bind attempts that failed, by reason (bind_resp status name, tls_* for "
    "TLS failures, or error class). Unit: attempts.",
    ["session", "reason"],
    registry=REGISTRY,
)
SESSION_ENQUIRE_LINK_SECONDS = Histogram(
    "smpp_gateway_session_enquire_link_seconds",
    "Round trip of our enquire_link to its enquire_link_resp. Unit: seconds.",
    ["session"],
    buckets=_FAST,
    registry=REGISTRY,
)
SESSION_LAST_PDU_AGE = Gauge(
    "smpp_gateway_session_last_pdu_age_seconds",
    "Time since the session last received a PDU (refreshed twice a second). Unit: seconds.",
    ["session"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)


def observe_sessions(sessions: list[dict[str, Any]]) -> None:
    """The sessions' window and silence, from SessionPool.snapshot() (the engine's
    status loop calls this twice a second)."""
    for session in sessions:
        SESSION_INFLIGHT.labels(session["name"]).set(session["inflight"])
        SESSION_WINDOW.labels(session["name"]).set(session["window"])
        SESSION_PACE.labels(session["name"]).set(session["pace_per_second"] or 0.0)
        age = session["last_pdu_age_seconds"]
        SESSION_LAST_PDU_AGE.labels(session["name"]).set(float("nan") if age is None else age)
    SUBMIT_RATE.set(sum(session["rate_per_second"] for session in sessions))


def refresh_store_gauges(store: Store) -> None:
    """What the store says now: whether it commits, queue and outbox depth, unmatched
    receipts. Set by the process answering the scrape, so every daemon's work counts
    (PostgreSQL)."""
    STORE_WRITABLE.set(1 if store.writable() else 0)
    QUEUE_DEPTH.set(store.pending_count())
    WEBHOOK_OUTBOX_DEPTH.set(store.outbox_depth())
    RECEIPTS_UNMATCHED_NOW.set(store.unmatched_receipts())


def exposition() -> bytes:
    """The text of /metrics: every process's metrics added up in multiprocess mode."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def forget_process(pid: int) -> None:
    """A process is gone: its live gauges no longer count (called by the master)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        multiprocess.mark_process_dead(pid, directory)
