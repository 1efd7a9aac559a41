"""Flask app factory: the only package that imports Flask."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from gateway import metrics
from gateway.clients import Directory
from gateway.http import body, bulk, converted, formats, health, openapi, sms, usage
from gateway.http.auth import authenticate
from gateway.http.context import Services
from gateway.http.responses import UNAUTHORIZED_TEXT, error

CLIENT_ENVIRON = "smpp_gateway.client"  # set on an authenticated request's WSGI environ
PUBLIC_ENDPOINTS = {"health.healthz", "health.readyz", "health.metrics", "openapi.document"}


def create_app(services: Services) -> Flask:
    app = Flask("gateway")
    app.extensions["gateway"] = services
    app.config["MAX_CONTENT_LENGTH"] = services.config.http.max_body_bytes
    assert isinstance(app.json, DefaultJSONProvider)
    directory = Directory(services.config.clients)
    app.json.sort_keys = False  # the provider's field order, as callers know it
    app.register_blueprint(health.blueprint)
    app.register_blueprint(sms.blueprint)
    for extra in (bulk, converted, usage, openapi):
        app.register_blueprint(extra.blueprint)

    @app.before_request
    def _authenticate() -> Response | None:
        g.started = time.perf_counter()
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        found = authenticate(request, directory)
        if found is None:
            return error(UNAUTHORIZED_TEXT, 401)
        client, g.api_key_id = found
        address = request.remote_addr or ""
        if not client.admits(address):
            return error(f"client {client.name!r} does not accept requests from {address}", 403)
        g.client = client
        request.environ[CLIENT_ENVIRON] = client.name  # the access log names it (logs.py)
        return None

    body.install(app)  # these hooks run after _authenticate, in this order
    formats.install(app)

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        metrics.HTTP_REQUESTS.labels(endpoint, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            metrics.HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            limit = services.config.http.max_body_bytes
            return error(body.too_large_text(limit), 413)
        return error(exc.description or exc.name, exc.code or 500)

    return app
