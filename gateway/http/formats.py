"""Answer formats of /sms and /smsbulk: JSON by default, XML on request.

Older provider clients choose the format by suffix (`/sms.xml`, `/smsbulk.json`) or by
`?format=xml|json`. The suffix routes point at the same views, and the XML is made
from the JSON answer after the view ran, so every answer of those endpoints (errors and
idempotent repeats included) exists in both formats and the two cannot drift.

XML: root element `<response>`; each JSON field becomes an element of the same name;
an array becomes an element holding one child per item, named by the array's singular
(`<messages><message>...</message></messages>`, `<item>` for other arrays); booleans
are `true`/`false`; a null field is left out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Flask, Response, request

from gateway.http.params import BadParameter, decode_pairs
from gateway.http.responses import error

FORMAT_ENDPOINTS = {"sms.send": "/sms", "bulk.send": "/smsbulk"}
FORMATS = ("json", "xml")
ROOT = "response"
ITEM_NAMES = {"messages": "message"}
XML_MIMETYPE = "application/xml"
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def install(app: Flask) -> None:
    """Add the suffix routes and the hooks; call after the views are registered."""
    for endpoint, path in FORMAT_ENDPOINTS.items():
        methods = set().union(*(r.methods or () for r in app.url_map.iter_rules(endpoint)))
        for suffix in FORMATS:
            app.add_url_rule(f"{path}.{suffix}", endpoint=endpoint, methods=sorted(methods))
    app.before_request(_check_format)
    app.after_request(_render)


def requested_format() -> str | None:
    """json, xml, something unsupported as given, or None where formats do not apply."""
    if request.endpoint not in FORMAT_ENDPOINTS:
        return None
    rule = request.url_rule.rule if request.url_rule is not None else ""
    for suffix in FORMATS:
        if rule.endswith(f".{suffix}"):
            return suffix
    try:  # strictly, as request_parameters reads it (Werkzeug's args may fail on bad UTF-8)
        given = decode_pairs(request.query_string).get("format", "json")
    except BadParameter:
        return "json"  # the view answers the unreadable query string with a 400
    return given.strip().lower() or "json"


def _check_format() -> Response | None:
    wanted = requested_format()
    if wanted is not None and wanted not in FORMATS:
        return error("format must be json or xml", 400, field="format")
    return None


def _render(response: Response) -> Response:
    if requested_format() != "xml" or not response.is_json:
        return response
    payload = response.get_json(silent=True)
    if payload is None:
        return response
    response.set_data(to_xml(payload))
    response.content_type = f"{XML_MIMETYPE}; charset=utf-8"
    return response


def to_xml(payload: Any) -> bytes:
    """The XML document for a JSON answer (see the module doc for the mapping)."""
    root = ET.Element(ROOT)
    _fill(root, payload)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            if child is not None:
                _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list):
        name = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = _NOT_XML.sub("\ufffd", str(value))
