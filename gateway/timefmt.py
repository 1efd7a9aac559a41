"""Time formats the provider's clients expect; pure."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_timestamp(ns: int) -> str:
    """ISO 8601 UTC with 7 fractional digits, as .NET's round-trip format writes it."""
    seconds, rest = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{rest // 100:07d}Z"


def iso_from_seconds(seconds: float) -> str:
    return iso_timestamp(round(seconds * 1_000_000_000))
