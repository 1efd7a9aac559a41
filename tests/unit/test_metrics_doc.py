"""Every metric says its unit, and docs/operations.md lists every metric as defined.

Why: an operator reads the unit off the HELP text or the doc, never off the code. A
metric added to gateway/metrics.py without a row in the doc, or a row left behind after
a rename, or a unit that says one thing in HELP and another in the doc, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from gateway import metrics

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"

UNIT = re.compile(r" Unit: ([^.]+)\.$")
ROW = re.compile(r"^\| `(smpp_gateway_\w+)` \| (\w+) \|([^|]*)\|([^|]*)\|", re.MULTILINE)


def defined() -> dict[str, Any]:
    """Exposed name -> the metric object, for every metric gateway/metrics.py defines."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            (family,) = value.describe()
            name = family.name + ("_total" if family.type == "counter" else "")
            found[name] = value
    assert len(found) > 30, "gateway/metrics.py defines fewer metrics than expected"
    return found


def documented() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Metric -> (type, unit, labels) from the tables of docs/operations.md."""
    rows = {}
    for name, kind, unit, labels in ROW.findall(OPERATIONS.read_text(encoding="utf-8")):
        assert name not in rows, f"{name} is listed twice in docs/operations.md"
        names = tuple(re.findall(r"`(\w+)`", labels))
        rows[name] = (kind, unit.strip().strip("`"), names)
    return rows


def unit_of(metric: Any) -> str:
    (family,) = metric.describe()
    match = UNIT.search(family.documentation)
    assert match, f"{family.name}: HELP does not end with 'Unit: <unit>.'"
    return match.group(1)


def test_every_help_text_names_its_unit_and_seconds_are_in_the_name():
    for name, metric in defined().items():
        unit = unit_of(metric)
        base = name.removesuffix("_total")
        assert (unit == "seconds") == base.endswith("_seconds"), (name, unit)


def test_only_counters_end_in_total():
    for name, metric in defined().items():
        (family,) = metric.describe()
        assert (family.type == "counter") == name.endswith("_total"), name


def test_operations_md_lists_every_metric_with_its_type_unit_and_labels():
    code, doc = defined(), documented()
    assert sorted(doc) == sorted(code), "docs/operations.md and gateway/metrics.py differ"
    for name, metric in code.items():
        (family,) = metric.describe()
        labels = tuple(metric._labelnames)  # no public accessor; stable across releases
        assert doc[name] == (family.type, unit_of(metric), labels), name
