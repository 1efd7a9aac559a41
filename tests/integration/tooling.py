"""External tools some tests need (promtool, systemd-analyze): skip without them, except
in CI (CI=true), where a missing tool is a failure: .ci/run installs them."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, debian_package: str) -> str:
    """The tool's path; skips the test when it is absent, fails when CI=true."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} not found (Debian package {debian_package!r}; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
