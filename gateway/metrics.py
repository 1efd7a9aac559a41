"""Every Prometheus metric of the gateway, defined once.

Names are `smpp_gateway_*`, units are in the name, counters end in `_total`, and label
values are bounded: endpoint names, status names, session names, reasons from fixed
sets. Never a phone number, an id or free text.

The registry is the one piece of module-level mutable state the project allows.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# -- HTTP ---------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "smpp_gateway_http_requests_total",
    "HTTP requests by endpoint and HTTP status.",
    ["endpoint", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "smpp_gateway_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["endpoint"],
    buckets=_FAST,
    registry=REGISTRY,
)
API_RESPONSE_CODES = Counter(
    "smpp_gateway_api_response_codes_total",
    "Provider responseCode values returned, per receiver.",
    ["code"],
    registry=REGISTRY,
)

# -- Sends --------------------------------------------------------------------------------
MESSAGES_ACCEPTED = Counter(
    "smpp_gateway_messages_accepted_total",
    "Messages made durable and answered with responseCode 0.",
    registry=REGISTRY,
)
SEGMENTS_SUBMITTED = Counter(
    "smpp_gateway_segments_submitted_total",
    "Segments the SMSC accepted (submit_sm_resp status 0).",
    registry=REGISTRY,
)
SUBMIT_RESPONSES = Counter(
    "smpp_gateway_submit_responses_total",
    "submit_sm outcomes by command_status name (timeouts and lost links included).",
    ["status"],
    registry=REGISTRY,
)
SUBMIT_LATENCY = Histogram(
    "smpp_gateway_submit_latency_seconds",
    "From acceptance of a message to the submit_sm_resp of its last segment.",
    buckets=_SLOW,
    registry=REGISTRY,
)
MESSAGES_FAILED = Counter(
    "smpp_gateway_messages_failed_total",
    "Messages that ended failed before delivery, by reason.",
    ["reason"],
    registry=REGISTRY,
)
SUBMIT_RETRIES = Counter(
    "smpp_gateway_submit_retries_total",
    "Segments scheduled again after a transient failure, by status name.",
    ["status"],
    registry=REGISTRY,
)
POSSIBLE_DUPLICATES = Counter(
    "smpp_gateway_possible_duplicates_total",
    "Messages found in flight at start-up and submitted again (at-least-once).",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "smpp_gateway_queue_depth_messages",
    "Messages accepted and not yet fully submitted.",
    registry=REGISTRY,
)
SESSION_INFLIGHT = Gauge(
    "smpp_gateway_session_inflight_segments",
    "submit_sm awaiting a response, per session.",
    ["session"],
    registry=REGISTRY,
)

# -- Sessions -----------------------------------------------------------------------------
SESSION_BOUND = Gauge(
    "smpp_gateway_session_bound",
    "1 while the session is bound, else 0.",
    ["session"],
    registry=REGISTRY,
)
SESSION_BINDS = Counter(
    "smpp_gateway_session_binds_total",
    "Successful binds per session.",
    ["session"],
    registry=REGISTRY,
)
SESSION_UNBINDS = Counter(
    "smpp_gateway_session_link_losses_total",
    "Bound sessions that lost their link, by reason class.",
    ["session", "reason"],
    registry=REGISTRY,
)

# -- Store --------------------------------------------------------------------------------
STORE_COMMIT_BATCH = Histogram(
    "smpp_gateway_store_commit_batch_operations",
    "Operations grouped in one store commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
    registry=REGISTRY,
)
STORE_COMMIT_SECONDS = Histogram(
    "smpp_gateway_store_commit_seconds",
    "Time of one store commit (group).",
    buckets=_FAST,
    registry=REGISTRY,
)


def observe_commit(operations: int, seconds: float) -> None:
    """Store hook: one call per group commit."""
    STORE_COMMIT_BATCH.observe(operations)
    STORE_COMMIT_SECONDS.observe(seconds)
