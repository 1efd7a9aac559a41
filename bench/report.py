"""Medians, ratios, targets, and the JSON + Markdown result files.

A ratio is taken against a base figure of the same bench invocation (BASES): the raw
SMPP client (`ceiling`), the bare Flask app (`stack`), or the single sends on SQLite
(`SQLite`), each the median of its runs. Targets are verdicts in the result ("pass" /
"fall short"), never assertions: the bench measures, it does not gate.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ratio name -> (scenario, figure key) it divides by
BASES = {
    "ceiling": ("ceiling", "submits_per_s"),
    "stack": ("stack", "requests_per_s"),
    "SQLite": ("single", "msgs_per_s_16"),
    "no delay": ("single", "msgs_per_s_16"),
    "bulk, no delay": ("bulk", "receivers_per_s"),
}

# (kind, bound): "min" value >= bound, "max" value <= bound, "below" value < bound,
# "min_ratio" value >= bound x the figure's ratio base
Target = tuple[str, float]


@dataclass(frozen=True)
class Figure:
    """How one measured value is shown: label, unit, ratio base, targets."""

    scenario: str
    key: str
    label: str
    unit: str
    ratio: str | None = None  # a BASES name: also print value / that base
    targets: tuple[Target, ...] = ()


FIGURES = (
    Figure("ceiling", "submits_per_s", "raw SMPP client submit_sm", "/s"),
    # -- the stack: bare Flask app on the gateway's gunicorn settings ----------------------
    Figure("stack", "requests_per_s", "bare app POST /sms, 16 clients", "/s"),
    Figure("stack", "p99_ms", "bare app latency p99, 16 clients", "ms"),
    Figure("stack", "cpu_cores", "bare app CPU, all processes", "cores"),
    Figure("stack", "busiest_worker", "connections on the busiest worker (of 16)", ""),
    Figure("stack", "loadgen_cpu_cores", "load generator CPU (stack)", "cores"),
    Figure("stack", "other_cpu_cores", "rest of the machine CPU (stack)", "cores"),
    Figure("stack", "loadgen_calibration_per_s", "load generator vs no-op server", "/s"),
    # -- single sends, receipts and callbacks on -----------------------------------------
    Figure(
        "single",
        "msgs_per_s_16",
        "POST /sms end to end (last callback), 16 clients",
        "/s",
        "stack",
        (("min", 2000.0), ("min_ratio", 0.5)),
    ),
    Figure("single", "accepted_per_s_16", "POST /sms accepted, 16 clients", "/s", "stack"),
    Figure("single", "p50_ms_16", "accept latency p50, 16 clients", "ms"),
    Figure("single", "p99_ms_16", "accept latency p99, 16 clients", "ms", None, (("max", 25.0),)),
    Figure("single", "gateway_cpu_cores_16", "gateway CPU, all processes, 16 clients", "cores"),
    Figure("single", "loadgen_cpu_cores_16", "load generator CPU, 16 clients", "cores"),
    Figure("single", "simulator_cpu_cores_16", "SMSC simulator CPU, 16 clients", "cores"),
    Figure("single", "receiver_cpu_cores_16", "bench process (webhook receiver) CPU", "cores"),
    Figure("single", "other_cpu_cores_16", "rest of the machine CPU, 16 clients", "cores"),
    Figure("single", "busiest_worker_16", "connections on the busiest worker (of 16)", ""),
    Figure("single", "msgs_per_s_64", "POST /sms end to end, 64 clients", "/s", "stack"),
    Figure("single", "errors_64", "errors, 64 clients", "", None, (("max", 0.0),)),
    Figure("single", "p99_ms_64", "accept latency p99, 64 clients", "ms", None, (("max", 60.0),)),
    Figure("single", "accepted_per_s_1", "POST /sms accepted, 1 client", "/s"),
    Figure("single", "p50_ms_1", "accept latency p50, 1 client", "ms"),
    Figure("single", "p99_ms_1", "accept latency p99, 1 client", "ms"),
    # -- bulk, receipts and callbacks on -------------------------------------------------
    Figure(
        "bulk", "receivers_per_s", "bulk receivers submitted", "/s", "ceiling", (("min", 6000),)
    ),
    Figure("bulk", "accepted_receivers_per_s", "bulk receivers accepted", "/s", "ceiling"),
    Figure("bulk", "callbacks_per_s", "callbacks delivered (to the last one)", "/s", "ceiling"),
    Figure("bulk", "callbacks_to_submits", "callbacks / submits", "x", None, (("min", 0.9),)),
    Figure("bulk", "latency_p50_ms", "receipt -> callback p50", "ms"),
    Figure("bulk", "latency_p99_ms", "receipt -> callback p99", "ms"),
    Figure("bulk", "gateway_cpu_cores", "gateway CPU, all processes, bulk", "cores"),
    Figure("bulk", "other_cpu_cores", "rest of the machine CPU, bulk", "cores"),
    # -- PostgreSQL, one daemon ----------------------------------------------------------
    Figure(
        "postgres",
        "msgs_per_s_16",
        "PostgreSQL: POST /sms end to end, 16 clients",
        "/s",
        "SQLite",
        (("min_ratio", 0.6),),
    ),
    Figure("postgres", "accepted_per_s_16", "PostgreSQL: accepted, 16 clients", "/s", "SQLite"),
    Figure("postgres", "p99_ms_16", "PostgreSQL: accept latency p99, 16 clients", "ms"),
    Figure("postgres", "gateway_cpu_cores_16", "PostgreSQL: gateway CPU, all processes", "cores"),
    Figure(
        "postgres", "other_cpu_cores_16", "PostgreSQL: rest of the machine (server incl.)", "cores"
    ),
    # -- a 50 ms round trip to the SMSC; an SMSC throttling above 300/s -------------------
    Figure(
        "wan",
        "msgs_per_s_16",
        "50 ms away: POST /sms end to end, 16 clients",
        "/s",
        "no delay",
        (("min_ratio", 0.8),),
    ),
    Figure(
        "wan",
        "bulk_receivers_per_s",
        "50 ms away: bulk receivers submitted",
        "/s",
        "bulk, no delay",
        (("min_ratio", 0.8),),
    ),
    Figure("wan", "bulk_callbacks_per_s", "50 ms away: bulk callbacks delivered", "/s"),
    Figure("wan", "window_at_end", "50 ms away: the session's window at the end", ""),
    Figure(
        "throttled",
        "settled_to_limit",
        "throttled at 300/s: submit rate after 10 s / 300",
        "x",
        None,
        (("min", 0.9), ("max", 1.1)),
    ),
    Figure("throttled", "settled_per_s", "throttled at 300/s: submit rate after 10 s", "/s"),
    Figure(
        "throttled",
        "throttled_share_pct",
        "throttled at 300/s: throttled answers after 10 s",
        "% submits",
        None,
        (("max", 2.0),),
    ),
    Figure("throttled", "first_throttles", "throttled at 300/s: throttled in the first 10 s", ""),
    # -- bytes at rest -------------------------------------------------------------------
    Figure(
        "disk",
        "sqlite_bytes_per_msg",
        "bytes at rest per message, SQLite",
        "B",
        None,
        (("max", 500.0),),
    ),
    Figure("disk", "postgres_bytes_per_msg", "bytes at rest per message, PostgreSQL", "B"),
    # -- idle ----------------------------------------------------------------------------
    Figure("idle", "cpu_pct", "idle CPU, all processes", "% core", None, (("below", 2.0),)),
    Figure("idle", "cpu_pct_master", "idle CPU, master", "% core"),
    Figure("idle", "cpu_pct_http", "idle CPU, HTTP workers", "% core"),
    Figure("idle", "cpu_pct_engine", "idle CPU, engine", "% core"),
    Figure("idle", "cpu_pct_dispatcher", "idle CPU, dispatcher", "% core"),
    # -- backlog, SMSC paused ------------------------------------------------------------
    Figure("backlog", "accepted_per_s", "backlog accepted (SMSC paused)", "/s", "ceiling"),
    Figure("backlog", "rss_mb_idle", "RSS, all processes, before the backlog", "MB"),
    Figure(
        "backlog", "rss_mb_queued", "RSS, all processes, all queued", "MB", None, (("max", 250),)
    ),
    Figure(
        "backlog",
        "peak_rss_mb_queued",
        "peak RSS summed, all queued",
        "MB",
        None,
        (("max", 250),),
    ),
    Figure("backlog", "pss_mb_queued", "PSS (shared pages once), all queued", "MB"),
    Figure("backlog", "peak_rss_mb_drain", "peak RSS summed, through the drain", "MB"),
    Figure("backlog", "drain_s", "drain time after resume", "s"),
    Figure("backlog", "drain_per_s", "drain rate", "/s", "ceiling"),
    # -- recovery ------------------------------------------------------------------------
    Figure("recovery", "first_submit_s", "SMSC back -> first submit_sm", "s"),
    Figure(
        "recovery", "ready_s", "SMSC back -> /readyz 200 (rebind)", "s", None, (("below", 2.0),)
    ),
    Figure("recovery", "down_s", "SMSC killed -> /readyz 200 again", "s"),
)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-figure median over the runs that produced it."""
    keys = {key for run in runs for key in run}
    return {k: statistics.median(r[k] for r in runs if k in r) for k in sorted(keys)}


def _met(target: Target, value: float, ratio: float | None) -> bool | None:
    """Whether `value` meets `target`; None for a ratio target without its base figure."""
    kind, bound = target
    if kind == "min_ratio":
        return None if ratio is None else ratio >= bound
    if kind == "max":
        return value <= bound
    if kind == "below":
        return value < bound
    return value >= bound


VERDICTS = {True: "pass", False: "fall short", None: "n/a (base not measured)"}


def verdict(figure: Figure, value: float, ratio: float | None) -> str | None:
    """'pass' / 'fall short' per target, joined by '; ' when a figure has several."""
    if not figure.targets:
        return None
    return "; ".join(VERDICTS[_met(t, value, ratio)] for t in figure.targets)


OPERATORS = {"min": ">=", "max": "<=", "below": "<"}


def target_text(figure: Figure) -> str:
    """The targets as the table shows them: ">= 2,000; >= 0.5x stack"."""
    texts = []
    for kind, bound in figure.targets:
        if kind == "min_ratio":
            texts.append(f">= {bound:g}x {figure.ratio}")
        else:
            texts.append(f"{OPERATORS[kind]} {bound:,g}")
    return "; ".join(texts)


def figure_rows(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measured figure, with its ratio to its base and its verdict."""
    bases = {
        name: scenarios.get(scenario, {}).get("median", {}).get(key)
        for name, (scenario, key) in BASES.items()
    }
    rows = []
    for figure in FIGURES:
        value = scenarios.get(figure.scenario, {}).get("median", {}).get(figure.key)
        if value is None:
            continue
        base = bases.get(figure.ratio) if figure.ratio else None
        ratio = value / base if base else None
        rows.append(
            {
                "scenario": figure.scenario,
                "figure": figure.key,
                "label": figure.label,
                "value": value,
                "unit": figure.unit,
                "ratio": ratio,
                "ratio_to": figure.ratio if ratio is not None else None,
                "target": target_text(figure),
                "verdict": verdict(figure, value, ratio),
            }
        )
    return rows


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def markdown(result: dict[str, Any]) -> str:
    """The short table: one line per figure, medians of the runs."""
    meta = result["meta"]
    lines = [
        f"Bench {meta['started']} ({meta['mode']}, median of {meta['runs']} runs, "
        f"{meta['cpus']} CPUs, {meta['http_workers']} HTTP workers x "
        f"{meta['http_threads']} threads, window {meta['window']} x "
        f"{meta['sessions']} session(s); load average before "
        f"{meta['loadavg_before'][0]:.2f}, after {meta['loadavg_after'][0]:.2f}; "
        f"{meta['seconds']:.0f} s)",
        "",
        "| scenario | figure | median | ratio | target | result |",
        "|---|---|---:|---:|---|---|",
    ]
    for row in result["figures"]:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3g}x {row['ratio_to']}"
        value = f"{_number(row['value'])} {row['unit']}".rstrip()
        lines.append(
            f"| {row['scenario']} | {row['label']} | {value} | {ratio} | {row['target']} | "
            f"{row['verdict'] or ''} |"
        )
    notes = []
    for name, scenario in result["scenarios"].items():
        if scenario.get("unavailable"):
            notes.append(f"- {name}: not run: {scenario['unavailable']}")
        notes.extend(f"- {name}: run failed: {error}" for error in scenario["errors"])
    if notes:
        lines += ["", *notes]
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
