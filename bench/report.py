"""Medians, ratios to the ceiling, targets, and the JSON + Markdown result files.

Targets are verdicts in the result ("pass" / "fall short"), never assertions: the
bench measures, it does not gate.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """How one measured value is shown: label, unit, ratio to the ceiling, target."""

    scenario: str
    key: str
    label: str
    unit: str
    ratio: bool = False  # print value / ceiling submits/s
    target: tuple[str, float] | None = None  # ("min_ratio"|"max"|"min", bound)


FIGURES = (
    Figure("ceiling", "submits_per_s", "raw client submit_sm", "/s", ratio=True),
    Figure("single", "accepted_per_s_32", "POST /sms accepted, 32 clients", "/s", ratio=True),
    Figure("single", "submitted_per_s_32", "POST /sms submitted, 32 clients", "/s", ratio=True),
    Figure("single", "p50_ms_32", "accept latency p50, 32 clients", "ms"),
    Figure("single", "p99_ms_32", "accept latency p99, 32 clients", "ms", target=("max", 25.0)),
    Figure("single", "accepted_per_s_1", "POST /sms accepted, 1 client", "/s", ratio=True),
    Figure("single", "p50_ms_1", "accept latency p50, 1 client", "ms"),
    Figure("single", "p99_ms_1", "accept latency p99, 1 client", "ms"),
    Figure("single", "gateway_cpu_cores_32", "gateway worker CPU, 32 clients", "cores"),
    Figure("single", "loadgen_cpu_cores_32", "load generator CPU, 32 clients", "cores"),
    Figure("single", "loadgen_calibration_per_s_32", "load generator vs no-op server", "/s"),
    Figure("bulk", "receivers_per_s", "bulk receivers submitted", "/s", True, ("min_ratio", 0.8)),
    Figure("bulk", "accepted_receivers_per_s", "bulk receivers accepted", "/s", ratio=True),
    Figure("bulk", "gateway_cpu_cores", "gateway worker CPU, bulk", "cores"),
    Figure("receipts", "submits_per_s", "submit_sm while receipts flow", "/s", ratio=True),
    Figure("receipts", "callbacks_per_s", "callbacks delivered", "/s", ratio=True),
    Figure("receipts", "callbacks_to_submits", "callbacks / submits", "x", target=("min", 0.8)),
    Figure("receipts", "latency_p50_ms", "receipt -> callback p50", "ms"),
    Figure("receipts", "latency_p99_ms", "receipt -> callback p99", "ms"),
    Figure("receipts", "gateway_cpu_cores", "gateway worker CPU, receipts", "cores"),
    Figure("backlog", "accepted_per_s", "backlog accepted (SMSC paused)", "/s", ratio=True),
    Figure("backlog", "rss_mb_idle", "worker RSS before the backlog", "MB"),
    Figure(
        "backlog", "peak_rss_mb_queued", "worker peak RSS, all queued", "MB", target=("max", 150)
    ),
    Figure("backlog", "peak_rss_mb_drain", "worker peak RSS, through the drain", "MB"),
    Figure("backlog", "drain_s", "drain time after resume", "s"),
    Figure("backlog", "drain_per_s", "drain rate", "/s", ratio=True),
    Figure("recovery", "first_submit_s", "SMSC back -> first submit_sm", "s"),
    Figure("recovery", "ready_s", "SMSC back -> /readyz 200 (rebind)", "s", target=("max", 2.0)),
    Figure("recovery", "down_s", "SMSC killed -> /readyz 200 again", "s"),
)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-figure median over the runs that produced it."""
    keys = {key for run in runs for key in run}
    return {k: statistics.median(r[k] for r in runs if k in r) for k in sorted(keys)}


def verdict(figure: Figure, value: float, ceiling: float | None) -> str | None:
    if figure.target is None:
        return None
    kind, bound = figure.target
    if kind == "min_ratio":
        ok = ceiling is not None and value >= bound * ceiling
    elif kind == "max":
        ok = value < bound
    else:
        ok = value >= bound
    return "pass" if ok else "fall short"


def target_text(figure: Figure) -> str:
    if figure.target is None:
        return ""
    kind, bound = figure.target
    return {"min_ratio": f">= {bound:g}x ceiling", "max": f"< {bound:g}", "min": f">= {bound:g}"}[
        kind
    ]


def figure_rows(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measured figure, with its ratio to the ceiling and its verdict."""
    ceiling = scenarios.get("ceiling", {}).get("median", {}).get("submits_per_s")
    rows = []
    for figure in FIGURES:
        value = scenarios.get(figure.scenario, {}).get("median", {}).get(figure.key)
        if value is None:
            continue
        ratio = value / ceiling if figure.ratio and ceiling else None
        rows.append(
            {
                "scenario": figure.scenario,
                "figure": figure.key,
                "label": figure.label,
                "value": value,
                "unit": figure.unit,
                "ratio_to_ceiling": ratio,
                "target": target_text(figure),
                "verdict": verdict(figure, value, ceiling),
            }
        )
    return rows


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def markdown(result: dict[str, Any]) -> str:
    """The short table: one line per figure, medians of the runs."""
    meta = result["meta"]
    lines = [
        f"Bench {meta['started']} ({meta['mode']}, median of {meta['runs']} runs, "
        f"{meta['cpus']} CPUs, window {meta['window']} x {meta['sessions']} session(s))",
        "",
        "| scenario | figure | median | x ceiling | target | result |",
        "|---|---|---:|---:|---|---|",
    ]
    for row in result["figures"]:
        ratio = row["ratio_to_ceiling"]
        lines.append(
            f"| {row['scenario']} | {row['label']} | {_number(row['value'])} {row['unit']} | "
            f"{'' if ratio is None else f'{ratio:.3f}'} | {row['target']} | "
            f"{row['verdict'] or ''} |"
        )
    for name, scenario in result["scenarios"].items():
        for error in scenario["errors"]:
            lines.append(f"\n- {name}: run failed: {error}")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """bench-<stamp>.json/.md plus latest.json/.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = result["meta"]["started"].replace(":", "").replace("-", "")
    text, table = json.dumps(result, indent=2) + "\n", markdown(result)
    json_path, md_path = out / f"bench-{stamp}.json", out / f"bench-{stamp}.md"
    for path, content in ((json_path, text), (md_path, table)):
        path.write_text(content)
    (out / "latest.json").write_text(text)
    (out / "latest.md").write_text(table)
    return json_path, md_path
