"""`python -m bench`: run the scenarios, print and write the result."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.common import Figures, Unavailable
from bench.scenarios_disk import disk
from bench.scenarios_fault import backlog, idle, recovery
from bench.scenarios_network import throttled, wan
from bench.scenarios_send import bulk, ceiling, postgres, single, stack_line
from bench.sizes import FULL, SMOKE, Sizes, scaled
from bench.stack import HTTP_THREADS, SmscTarget, http_workers

Scenario = Callable[[SmscTarget, Sizes, dict[str, Any]], Figures]
# The order of the table; ratios are taken between medians, so it does not matter to them.
SCENARIOS: dict[str, Scenario] = {
    "ceiling": ceiling,
    "stack": stack_line,
    "single": single,
    "bulk": bulk,
    "postgres": postgres,
    "wan": wan,
    "throttled": throttled,
    "disk": disk,
    "idle": idle,
    "backlog": backlog,
    "recovery": recovery,
}
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one run")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--runs", type=int, default=None, help="default 3 (smoke: 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result directory")
    parser.add_argument("--window", type=int, default=10, help="gateway smpp.window")
    parser.add_argument("--sessions", type=int, default=1, help="gateway smpp.sessions")
    smsc = parser.add_argument_group("another SMSC (default: the bundled simulator)")
    smsc.add_argument("--smsc-host", default=None)
    smsc.add_argument("--smsc-port", type=int, default=2775)
    smsc.add_argument("--system-id", default="smppclient")
    smsc.add_argument(
        "--password-env", default="BENCH_SMSC_PASSWORD", help="variable holding the password"
    )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    return args


def target_from(args: argparse.Namespace) -> SmscTarget:
    target = SmscTarget(
        host=args.smsc_host,
        port=args.smsc_port,
        system_id=args.system_id,
        password=os.environ.get(args.password_env, "password"),
        window=args.window,
        sessions=args.sessions,
    )
    target.check()
    return target


def run_all(
    names: list[str], runs: int, target: SmscTarget, sizes: Sizes
) -> dict[str, dict[str, Any]]:
    """Runs interleaved (run 1 of every scenario, then run 2, ...) so drift hits all alike.
    A scenario that cannot run here (Unavailable) is tried once and reported as not run."""
    scenarios: dict[str, dict[str, Any]] = {
        n: {"runs": [], "errors": [], "unavailable": None} for n in names
    }
    for index in range(runs):
        ctx: dict[str, Any] = {}
        for name in names:
            if scenarios[name]["unavailable"]:
                continue
            started = time.monotonic()
            try:
                figures = SCENARIOS[name](target, sizes, ctx)
            except Unavailable as exc:
                print(f"{name}: not run: {exc}", flush=True)
                scenarios[name]["unavailable"] = str(exc)
                continue
            except Exception as exc:  # one failed run must not lose the others
                traceback.print_exc()
                scenarios[name]["errors"].append(f"run {index + 1}: {exc!r}"[:500])
                continue
            scenarios[name]["runs"].append(figures)
            took = time.monotonic() - started
            print(f"run {index + 1}/{runs} {name} ({took:.1f}s): {_short(figures)}", flush=True)
    for scenario in scenarios.values():
        scenario["median"] = report.medians(scenario["runs"])
    return scenarios


def _short(figures: Figures) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in figures.items())


def _stop_on_signals() -> None:
    """SIGTERM (and SIGINT, even when a shell ignores it for background jobs) unwind the
    `with` blocks, so the simulator and the daemon this run started are stopped too."""

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_signals()
    target = target_from(args)
    sizes = scaled(SMOKE if args.smoke else FULL, args.scale)
    runs = args.runs or (1 if args.smoke else 3)
    names = [n for n in SCENARIOS if n in args.scenarios.split(",")]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0, load_before = time.monotonic(), os.getloadavg()
    scenarios = run_all(names, runs, target, sizes)
    result = {
        "meta": {
            "started": started,
            "seconds": round(time.monotonic() - t0, 1),
            "mode": "smoke" if args.smoke else "full",
            "runs": runs,
            "cpus": os.cpu_count(),
            "http_workers": http_workers(),
            "http_threads": HTTP_THREADS,
            "window": target.window,
            "sessions": target.sessions,
            "smsc": f"{target.host}:{target.port}" if target.host else "bundled simulator",
            "sizes": sizes.__dict__,
            "python": sys.version.split()[0],
            # 1/5/15-minute load averages: other work on the machine shows here too
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "scenarios": scenarios,
        "figures": report.figure_rows(scenarios),
    }
    json_path, _md = report.write(result, args.out)
    print(report.markdown(result))
    print(f"written: {json_path} (+ .md, latest.json, latest.md)")
    return 0 if all(s["median"] or s["unavailable"] for s in scenarios.values()) else 1
