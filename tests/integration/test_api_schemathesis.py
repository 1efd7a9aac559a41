"""Schemathesis against the served OpenAPI document and the real daemon.

It generates requests for every documented operation (examples, boundary values and
random data) and fails on any 5xx, undocumented status code, wrong content type or
response that breaks its schema. Bounded by --max-time so it stays a few seconds.
Afterwards the log has no traceback and the first worker still answers. Hostile bytes a
schema cannot describe (nesting, surrogates, chunked bodies, bad escapes) are the job of
tests/integration/test_api_fuzz.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from tests.integration.helpers import assert_worker_unharmed

pytest.importorskip("schemathesis")
# CPU-hungry: `make test` runs it on one pytest-xdist worker with the other heavy ones
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("heavy")]

OPENAPI = Path(__file__).resolve().parents[2] / "gateway" / "http" / "openapi.json"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


def test_schemathesis_finds_no_5xx_and_no_schema_violation(gateway: GatewayProcess) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{gateway.base_url}/openapi.json",
        "--header", f"X-Mitto-API-Key: {API_KEY}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "10",
        "--max-time", "12",
        "--seed", "4",
        "--no-color",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=90)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    documented = sum(len(item) for item in json.loads(OPENAPI.read_text())["paths"].values())
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested, summary
    # every operation it found was exercised (it does not count GET /openapi.json itself)
    assert selected[1] == selected[2] == tested[1], summary
    assert int(tested[1]) >= documented - 1, summary
    assert_worker_unharmed(gateway)
