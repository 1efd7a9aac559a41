"""Time formats the provider's clients expect; pure."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


def iso_timestamp(ns: int) -> str:
    """ISO 8601 UTC with 7 fractional digits, as .NET's round-trip format writes it."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_whole_second(seconds)}.{rest // 100:07d}Z"


@lru_cache(maxsize=64)
def _whole_second(seconds: int) -> str:
    """The seconds part, cached: every answer of one second shares it (a hot path)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_from_seconds(seconds: float) -> str:
    return iso_timestamp(round(seconds * 1_000_000_000))
