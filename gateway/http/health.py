"""Liveness, readiness, the operator's status view and the metrics scrape."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import metrics
from gateway.http.responses import json_response

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz", endpoint="healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@blueprint.route("/readyz", endpoint="readyz")
def readyz() -> Response:
    svc = current_app.extensions["gateway"]
    checks = {"store_writable": svc.store.writable(), "smpp_bound": svc.smpp_ready()}
    ready = all(checks.values())
    return json_response(
        {"status": "ready" if ready else "not ready", **checks}, 200 if ready else 503
    )


@blueprint.route("/status", endpoint="status")
def status() -> Response:
    """Sessions, queue and outbox at a glance (API key required: it names the SMSC binds)."""
    svc = current_app.extensions["gateway"]
    return json_response(
        {
            "ready": svc.store.writable() and svc.smpp_ready(),
            **svc.engine_status(),
            "queue_depth": svc.store.pending_count(),
            "outbox_depth": svc.store.outbox_depth(),
            "messages_by_state": svc.store.count_by_state(),
        }
    )


@blueprint.route("/metrics", endpoint="metrics")
def metrics_scrape() -> Response:
    # content_type, not mimetype: Flask would append a second charset, which Prometheus 3
    # rejects as an unparsable Content-Type
    metrics.refresh_store_gauges(current_app.extensions["gateway"].store)
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
