"""The benchmark harness's smoke mode runs end to end, so `make bench` cannot rot.

It runs `python -m bench --smoke` in a subprocess (the harness starts its own simulator,
daemon and receiver) and checks only that every scenario produced numeric figures > 0;
the figures themselves are for reading, not for asserting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every scenario `python -m bench` runs by default (bench/cli.py); the smoke run covers all.
SCENARIOS = ("ceiling", "single", "bulk", "receipts", "backlog", "recovery")

pytestmark = pytest.mark.integration


@pytest.mark.timeout(60)
def test_smoke_mode_reports_every_scenario(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("Bench ")
    for name in SCENARIOS:
        scenario = result["scenarios"][name]
        assert not scenario["errors"], (name, scenario["errors"])
        median = scenario["median"]
        assert median, name
        for key, value in median.items():
            assert isinstance(value, int | float) and value > 0, (name, key, value)
    assert {row["scenario"] for row in result["figures"]} == set(SCENARIOS)
