"""Reading send parameters from a JSON body and/or the query string, as older clients use both.

A parameter that is present but unusable raises `BadParameter`, answered with HTTP 400 and
a message naming the field: the provider's responseCode table has no code for these.

Every request parameter of every endpoint comes through `request_parameters`: the one
place that decodes the query string, a form body or a JSON body. It is strict where
Werkzeug is lenient, because lenience reached the handset or the store: an invalid
percent-escape (`%ZZ`) or invalid UTF-8 (`%ED%A0%80`) is a 400 naming the field, not text
sent as written or as U+FFFD; JSON must be UTF-8 (or a UTF-16/32 JSON encoding), nested at
most MAX_JSON_DEPTH deep (no RecursionError), with finite numbers and no lone surrogate
(`"\\ud800"`, which no store can keep) in any string. The result is cached on the
request, so the Idempotency-Key hash and the view read the same parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_KEY = "gateway.body"  # environ: the body as read, bounded, by gateway/http/body.py
_PARAMS_KEY = "gateway.parameters"  # environ: the parameters, or the error, once decoded
MAX_JSON_DEPTH = 32  # the API's bodies nest 3 deep; the json module recurses per level
MAX_FORM_PARTS = 1000  # as Werkzeug's default
_JSON_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.S)
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class BadRequest(ValueError):
    """The request as a whole cannot be read (malformed JSON, wrong body type)."""


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def request_parameters(request: Request) -> dict[str, Any]:
    """Query-string parameters overlaid by the body's fields (JSON or an HTML form).

    Raises BadRequest or BadParameter; decoded once per request (cached in the environ)."""
    cached = request.environ.get(_PARAMS_KEY)
    if cached is None:
        try:
            cached = _decode_parameters(request)
        except (BadRequest, BadParameter) as exc:
            cached = exc
        request.environ[_PARAMS_KEY] = cached
    if isinstance(cached, Exception):
        raise cached
    return dict(cached)


def _decode_parameters(request: Request) -> dict[str, Any]:
    merged = decode_pairs(request.query_string)
    raw = request.environ.get(BODY_KEY)
    if raw is None:  # an endpoint whose body the bounded read skipped
        raw = request.get_data(cache=True)
    if request.mimetype == FORM_TYPES[0]:  # older clients post HTML-form bodies
        merged.update(decode_pairs(raw))
    elif request.mimetype == FORM_TYPES[1]:
        merged.update(multipart_fields(raw, request.headers.get("Content-Type", "")))
    elif raw.strip():
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object")
        for name, value in body.items():
            check_unicode(name, value)
        merged.update(body)
    return merged


def decode_pairs(raw: bytes) -> dict[str, str]:
    """`a=1&b=x+y` (a query string or a urlencoded body), strictly; the first of a repeated
    name wins, as Werkzeug's MultiDict.get does."""
    pairs: dict[str, str] = {}
    for piece in raw.split(b"&"):
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition(b"=")
        name = _unescape(raw_name, None)
        pairs.setdefault(name, _unescape(raw_value, name))
    return pairs


def _unescape(raw: bytes, name: str | None) -> str:
    """Percent-decoding that refuses what Werkzeug would keep as written or replace."""
    field = name if name is not None else raw.decode("latin-1")[:64]
    if _BAD_ESCAPE.search(raw):
        raise BadParameter(
            field, "has an invalid percent-escape (% must be followed by two hex digits)"
        )
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter(field, "is not valid UTF-8 once percent-decoded") from None


def multipart_fields(raw: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a multipart/form-data body (files are ignored, as before), each
    decoded strictly as UTF-8 (or the part's ASCII/Latin-1 charset)."""
    boundary = parse_options_header(content_type)[1].get("boundary", "")
    try:
        decoder = MultipartDecoder(boundary.encode("ascii"), max_parts=MAX_FORM_PARTS)
        if not boundary:
            raise ValueError("no boundary")
        decoder.receive_data(raw)
        decoder.receive_data(None)
        return _collect_fields(decoder)
    except BadParameter:
        raise
    except (ValueError, RequestEntityTooLarge) as exc:  # broken framing, too many parts
        raise BadRequest(f"malformed multipart/form-data body: {exc}") from None


def _collect_fields(decoder: MultipartDecoder) -> dict[str, str]:
    fields: dict[str, str] = {}
    part: Field | File | None = None
    chunks: list[bytes] = []
    while not isinstance(event := decoder.next_event(), Epilogue | NeedData):
        if isinstance(event, Field | File):
            part, chunks = event, []
        elif isinstance(event, Data):
            chunks.append(event.data)
            if not event.more_data and isinstance(part, Field):
                fields.setdefault(part.name, _part_text(part, b"".join(chunks)))
    return fields


def _part_text(part: Field, data: bytes) -> str:
    charset = parse_options_header(part.headers.get("content-type"))[1].get("charset", "")
    if charset.lower() not in ("ascii", "us-ascii", "iso-8859-1"):
        charset = "utf-8"
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        raise BadParameter(part.name, f"is not valid {charset}") from None


def parse_json(raw: bytes) -> Any:
    """The JSON document in `raw`, or BadRequest: the only JSON parser of request bodies."""
    encoding = json.detect_encoding(raw)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"malformed JSON body: not valid {encoding} at byte {exc.start}") from None
    if too_deep(text, MAX_JSON_DEPTH):
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:  # too_deep makes this unreachable; a 400 all the same
        raise BadRequest(
            f"malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int() past 4300 digits
        raise BadRequest(f"malformed JSON body: {exc}") from None


def too_deep(text: str, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit`; strings are skipped, not parsed.

    Linear and early-exiting, so 100,000 `[` cost microseconds rather than the json
    module's recursion."""
    if text.count("[") + text.count("{") <= limit:  # the usual body: no scan needed
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        char = text[token.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def check_unicode(name: str, value: Any) -> None:
    """BadParameter naming the top-level field when a string in it (a key included) holds
    a lone surrogate: valid JSON escapes, but no text any store or SMSC can carry."""
    if _SURROGATE.search(name):
        shown = name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise BadParameter(shown[:64], "a field name holds a lone surrogate (invalid Unicode)")
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and _SURROGATE.search(item):
            raise BadParameter(name, "holds a lone surrogate (\\ud800-\\udfff): invalid Unicode")
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


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
