"""Response shapes and formats the provider's callers expect."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from gateway.timefmt import iso_timestamp

RESPONSE_TEXT = {
    0: "SMS sent",
    1: "Internal error",
    2: "Invalid type",
    3: "Empty message",
    4: "Message text is invalid",
    5: "Empty sender",
    6: "Invalid sender",
    7: "Empty receiver",
    8: "Invalid receiver",
}

UNAUTHORIZED_TEXT = "Invalid or no API Key specified"


def timestamp(ns: int) -> str:
    return iso_timestamp(ns)


def json_response(payload: Any, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def error(message: str, status: int, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)
