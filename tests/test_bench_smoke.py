"""The benchmark harness's smoke mode runs end to end, so `make bench` cannot rot.

It runs `python -m bench --smoke` in a subprocess (the harness starts its own simulator,
daemons, bare app and receiver) and checks only that every scenario produced numeric
figures (counts and idle CPU may be 0, every scenario has some figure > 0) and a table
row; the figures themselves are for reading, not for asserting. Without a PostgreSQL
server the postgres scenario must say so in the table instead (with CI=true the test
fails, as the PostgreSQL tests do).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.testing.postgres import unreachable_reason

ROOT = Path(__file__).resolve().parent.parent
# Every scenario `python -m bench` runs by default (bench/cli.py); the smoke run covers all.
SCENARIOS = (
    "ceiling", "stack", "single", "bulk", "postgres", "wan", "throttled", "disk", "idle",
    "backlog", "recovery",
)  # fmt: skip

# CPU-hungry: `make test` runs it on one pytest-xdist worker with the other heavy ones
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("heavy")]


# its own subprocess deadline first; on a loaded machine (tests in parallel) it takes ~50 s
@pytest.mark.timeout(180)
def test_smoke_mode_reports_every_scenario(tmp_path: Path) -> None:
    no_postgres = unreachable_reason()
    if no_postgres is not None and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {no_postgres}")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    table = (tmp_path / "latest.md").read_text()
    assert table.startswith("Bench ")
    expected = set(SCENARIOS)
    if no_postgres is not None:
        why = "PostgreSQL not reachable"  # the same check, maybe another error text
        assert result["scenarios"]["postgres"]["unavailable"].startswith(why)
        assert f"- postgres: not run: {why}" in table
        expected.remove("postgres")
    for name in expected:
        scenario = result["scenarios"][name]
        assert not scenario["errors"], (name, scenario["errors"])
        median = scenario["median"]
        assert any(value > 0 for value in median.values()), (name, median)
        for key, value in median.items():
            assert isinstance(value, int | float), (name, key, value)
            assert math.isfinite(value) and value >= 0, (name, key, value)
    assert {row["scenario"] for row in result["figures"]} == expected
