"""Liveness, readiness and the metrics scrape."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.http.responses import json_response
from gateway.metrics import REGISTRY

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


@blueprint.route("/metrics", endpoint="metrics")
def metrics_scrape() -> Response:
    # content_type, not mimetype: Flask would append a second charset, which Prometheus 3
    # rejects as an unparsable Content-Type
    return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
