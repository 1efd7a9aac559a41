"""GET /openapi.json: the checked-in OpenAPI 3.1 document of the HTTP API.

Served as the file is (gateway/http/openapi.json, shipped as package data), read once
when the app is built; tests/unit/test_api_openapi.py fails when it and the routes drift.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app
from flask.blueprints import BlueprintSetupState

DOCUMENT = Path(__file__).with_name("openapi.json")
EXTENSION = "gateway.openapi"  # app.extensions key of the document's bytes

blueprint = Blueprint("openapi", __name__)


@blueprint.record_once
def _load(state: BlueprintSetupState) -> None:
    state.app.extensions[EXTENSION] = DOCUMENT.read_bytes()


@blueprint.route("/openapi.json", methods=["GET"], endpoint="document")
def document() -> Response:
    return Response(current_app.extensions[EXTENSION], mimetype="application/json")
