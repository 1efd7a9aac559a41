"""Prometheus side: the real scrape passes `promtool check metrics`; the alert rules pass
`promtool check rules` and their unit tests; the alerts and the Grafana dashboard name only
metrics that gateway/metrics.py defines, so neither can drift from the code."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.tooling import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
METRICS_PY = ROOT / "gateway" / "metrics.py"
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "config" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "config" / "grafana" / "smpp-gateway.json"

DEFINITION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(smpp_gateway_\w+)\"")
REFERENCE = re.compile(r"\bsmpp_gateway_[a-z0-9_]+")
SUFFIXES = {
    "Counter": ("", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
}


def exposed_names() -> set[str]:
    """Every series name gateway/metrics.py can expose (histograms as _bucket etc.)."""
    names = {
        name + suffix
        for kind, name in DEFINITION.findall(METRICS_PY.read_text())
        for suffix in SUFFIXES[kind]
    }
    assert len(names) > 20, "the regex no longer finds the metric definitions"
    return names


def dashboard_exprs(node: Any) -> Iterator[str]:
    """Every PromQL expression of the dashboard: panel targets and template queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_exprs(item)


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "prometheus")
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


# -- alert rules -------------------------------------------------------------------------


def test_alert_rules_are_valid():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_alert_rule_unit_tests_pass():
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_name_only_defined_metrics():
    referenced = set(REFERENCE.findall(ALERTS.read_text()))
    assert {
        "smpp_gateway_session_bound",
        "smpp_gateway_submit_responses_total",
        "smpp_gateway_queue_depth_messages",
        "smpp_gateway_receipts_total",
        "smpp_gateway_webhook_dead_letters_total",
    } <= referenced
    assert referenced - exposed_names() == set()


def test_every_alert_has_a_unit_test():
    alerts = set(re.findall(r"- alert: (\w+)", ALERTS.read_text()))
    tested = set(re.findall(r"alertname: (\w+)", ALERTS_TEST.read_text()))
    assert len(alerts) == 10 and alerts == tested


# -- dashboard ---------------------------------------------------------------------------


def test_dashboard_queries_name_only_defined_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(dashboard_exprs(dashboard))
    referenced = {name for expr in exprs for name in REFERENCE.findall(expr)}
    missing = referenced - exposed_names()
    assert missing == set(), f"dashboard names metrics that gateway/metrics.py lacks: {missing}"
    # what the dashboard is for: throughput, statuses, latency, queue, binds, receipts,
    # webhooks, store
    assert {
        "smpp_gateway_messages_accepted_total",
        "smpp_gateway_segments_submitted_total",
        "smpp_gateway_submit_responses_total",
        "smpp_gateway_submit_latency_seconds_bucket",
        "smpp_gateway_queue_depth_messages",
        "smpp_gateway_session_bound",
        "smpp_gateway_receipts_total",
        "smpp_gateway_webhook_deliveries_total",
        "smpp_gateway_webhook_dead_letters_total",
        "smpp_gateway_store_commit_seconds_bucket",
    } <= referenced


def test_dashboard_is_a_grafana_model_on_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "smpp-gateway" and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            for target in [panel, *panel["targets"]]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_queries_are_valid_promql(tmp_path: Path):
    """promtool has no expression checker; a rules file of the queries is checked instead,
    with Grafana's variables given values."""
    exprs = list(dashboard_exprs(json.loads(DASHBOARD.read_text())))
    rules = []
    for i, expr in enumerate(exprs):
        expr = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        if expr.startswith("label_values("):  # Grafana's, not PromQL: check the metric
            expr = expr.removeprefix("label_values(").split(",")[0]
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# -- a real scrape -----------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_scrape_after_traffic_passes_promtool_check_metrics(tmp_path: Path):
    tool = require_tool("promtool", "prometheus")
    with SimulatorProcess(receipt_delay=0) as sim, GatewayProcess(tmp_path, sim.port) as gw:
        gw.send(**{"from": "TEST", "to": "41791234567", "text": "one"})
        gw.send(**{"from": "TEST", "to": "41791234568", "text": "two segments " * 20})
        gw.send(**{"from": "+41790000001", "to": "41791234569", "text": "€ three"})
        invalid = gw.request("POST", "/sms", {"from": "TEST", "to": "x", "text": "bad"})
        assert invalid.status == 200 and invalid.json()["responseCode"] != 0

        def scraped() -> dict[Any, float] | None:
            found = samples(gw.get("/metrics").body.decode())
            done = found.get(("smpp_gateway_segments_submitted_total", ())) == 4.0
            return found if done and found[("smpp_gateway_queue_depth_messages", ())] == 0 else None

        found = wait_for(scraped, timeout=20, what="4 segments submitted, queue empty")
        response = gw.get("/metrics")
    assert found[("smpp_gateway_messages_accepted_total", ())] == 3.0
    assert found[("smpp_gateway_submit_responses_total", (("status", "ESME_ROK"),))] == 4.0
    assert found[("smpp_gateway_submit_latency_seconds_count", ())] == 3.0
    assert found[("smpp_gateway_session_bound", (("session", "trx0"),))] == 1.0
    assert 0 <= found[("smpp_gateway_session_last_pdu_age_seconds", (("session", "trx0"),))] < 20
    # exactly the library's type: a duplicated parameter makes Prometheus 3 refuse the scrape
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    result = subprocess.run(
        [tool, "check", "metrics"], input=response.body.decode(),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
