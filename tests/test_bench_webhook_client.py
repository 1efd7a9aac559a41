"""bench/webhook_client.py runs end to end (tiny counts), so the measurement cannot rot.

Its figures are for reading, not for asserting: this checks that both gateway transports
were measured, every POST was answered 2xx, and CPU and rate figures came out positive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


@pytest.mark.timeout(90)
def test_the_webhook_client_bench_measures_both_transports(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["--count", "200", "--repeat", "1", "--concurrency", "1", "4"]
    args += ["--clients", "urllib3", "pycurl", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.webhook_client", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert [(r["client"], r["concurrency"]) for r in rows] == [
        ("urllib3", 1),
        ("urllib3", 4),
        ("pycurl", 1),
        ("pycurl", 4),
    ]
    for row in rows:
        assert row["failed"] == 0, row
        assert row["cpu_us"] > 0 and row["rate"] > 0, row
    assert "pycurl" in proc.stdout and "CPU µs/req" in proc.stdout
