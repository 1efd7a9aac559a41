"""The checked-in OpenAPI document against the Flask routes: it fails on drift."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.config_load import build_config
from gateway.http import create_app
from gateway.http.context import Services
from gateway.store import open_store

DOC_PATH = Path(__file__).resolve().parents[2] / "gateway" / "http" / "openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}
IGNORED_ENDPOINTS = {"static"}  # Flask's default static route; no file is served there


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(DOC_PATH.read_text())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a real store (POST /sms/converted takes its rate-limit token there)."""
    config = build_config({"http": {"api_keys": ["k"]}}, {})
    store = open_store(str(tmp_path_factory.mktemp("openapi") / "gateway.db"))
    yield create_app(Services(config, store, None, lambda: True, new_id=uuid.uuid4))  # type: ignore[arg-type]
    store.close()


def routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(path, m.lower()) for m in rule.methods or () if m.lower() in METHODS}
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, m) for path, item in doc["paths"].items() for m in item if m in METHODS}


def test_documented_paths_and_methods_are_the_routes(app: Flask, doc: dict[str, Any]) -> None:
    served, written = routes(app), documented(doc)
    assert sorted(served - written) == [], "routes missing from gateway/http/openapi.json"
    assert sorted(written - served) == [], "documented operations that no route serves"


def test_every_route_the_issue_names_is_there(doc: dict[str, Any]) -> None:
    wanted = {
        ("/sms", "post"),
        ("/sms", "get"),
        ("/sms/{message_id}", "get"),
        ("/smsbulk", "post"),
        ("/sms/converted", "post"),
        ("/usage/bycountry", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    }
    assert wanted <= documented(doc)
    assert doc["openapi"].startswith("3.1")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_every_operation_has_an_error_answer(
    doc: dict[str, Any],
) -> None:
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            secured = op.get("security", doc["security"]) != []
            assert not secured or "401" in op["responses"], f"{method} {path} lacks 401"


def test_the_document_is_served_unauthenticated_as_checked_in(app: Flask) -> None:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.is_json
    assert response.get_data() == DOC_PATH.read_bytes()


@pytest.mark.parametrize(
    ("path", "body", "query"),
    [
        ("/sms", b"[" * 100_000, ""),
        ("/smsbulk", b'{"to": ["\\ud800"]}', ""),
        ("/sms/converted", b"[" * 100_000, ""),
        ("/usage/bycountry", b'{"startDate": NaN}', ""),
        ("/sms", b"", "?text=%ZZ"),
        ("/sms.xml", b"x" * 2_000_000, ""),
    ],
)
def test_hostile_requests_get_a_documented_4xx(
    app: Flask, doc: dict[str, Any], path: str, body: bytes, query: str
) -> None:
    """Malformed, too deep or too large: the answer is one the document lists."""
    headers = {"X-Mitto-API-Key": "k", "Content-Type": "application/json"}
    for method in ("post", "get") if query else ("post",):
        if method not in doc["paths"][path]:
            continue
        answer = app.test_client().open(
            path + query, method=method.upper(), data=body, headers=headers
        )
        assert 400 <= answer.status_code < 500, answer.get_data()
        assert str(answer.status_code) in doc["paths"][path][method]["responses"], answer.status
