"""Reading send parameters from a JSON body and/or the query string, as older clients use both.

A parameter that is present but unusable raises `BadParameter`, answered with HTTP 400 and
a message naming the field: the provider's responseCode table has no code for these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Request

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadRequest(ValueError):
    """The request as a whole cannot be read (malformed JSON, wrong body type)."""


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def request_parameters(request: Request) -> dict[str, Any]:
    """Query-string parameters overlaid by the JSON body's fields."""
    merged: dict[str, Any] = dict(request.args.items())
    if request.mimetype in FORM_TYPES:  # older clients post HTML-form bodies
        merged.update(request.form.items())
        return merged
    raw = request.get_data(cache=True)
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object")
        merged.update(body)
    return merged


def optional_str(params: Mapping[str, Any], name: str, max_length: int = 2048) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadParameter(name, "must be a string")
    text = str(value)
    if len(text) > max_length:
        raise BadParameter(name, f"longer than {max_length} characters")
    if "\x00" in text:  # no store can keep it faithfully (PostgreSQL text refuses it)
        raise BadParameter(name, "must not contain the NUL character (U+0000)")
    return text


def optional_int(params: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadParameter(name, "must be an integer")
    try:
        number = int(value) if isinstance(value, int | str) else None
    except ValueError:
        number = None
    if number is None:
        raise BadParameter(name, "must be an integer")
    if not low <= number <= high:
        raise BadParameter(name, f"must be between {low} and {high}")
    return number


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def optional_bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise BadParameter(name, "must be true or false")
