"""Liveness, readiness, the operator's status view and the metrics scrape."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import metrics
from gateway.clients import quota_periods
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
            "clients": _clients(svc),
        }
    )


def _clients(svc: Any) -> dict[str, dict[str, Any]]:
    """Per configured client: messages accepted in the last minute, and each quota left."""
    now = time.time()
    periods = {c.name: quota_periods(c, now) for c in svc.config.clients}
    used = svc.store.quota_used(sorted({key for p in periods.values() for key, _, _ in p}))
    counts = svc.store.client_counts(now - 60)
    view: dict[str, dict[str, Any]] = {}
    for client in svc.config.clients:
        entry: dict[str, Any] = {"last_minute": counts.get(client.name, 0)}
        for key, limit, _ in periods[client.name]:
            which = "quota_day_left" if len(key) == 10 else "quota_month_left"
            entry[which] = max(0, limit - used.get((client.name, key), 0))
        view[client.name] = entry
    return view


@blueprint.route("/metrics", endpoint="metrics")
def metrics_scrape() -> Response:
    # content_type, not mimetype: Flask would append a second charset, which Prometheus 3
    # rejects as an unparsable Content-Type
    metrics.refresh_store_gauges(current_app.extensions["gateway"].store)
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
