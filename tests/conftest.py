"""Session-wide test settings: say once, at the top, whether PostgreSQL tests can run."""

from __future__ import annotations

import os

import pytest

from gateway.testing.postgres import unreachable_reason


def pytest_report_header(config: pytest.Config) -> str:
    reason = unreachable_reason()
    if reason is None:
        return "postgresql: reachable; the PostgreSQL variants run"
    action = "fail (CI=true)" if os.environ.get("CI", "").lower() == "true" else "skip"
    return f"postgresql: {reason}; the PostgreSQL variants {action}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The one line a developer without a server needs (also under -q)."""
    reason = unreachable_reason()
    if reason is not None and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(f"PostgreSQL tests skipped: {reason}", yellow=True)
