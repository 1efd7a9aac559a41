"""Unknown send fields: ignored, as the provider ignores them, but logged once per API key.

Why log at all: a caller migrating from the provider may rely on a field the gateway does
not implement; one line tells the operator. Why once: a line per request would flood the
log with the same news. The memory is bounded so a caller inventing field names cannot
grow it without limit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("gateway.http")

#: Every field POST /sms and /smsbulk read (body or query string), plus `format`.
SEND_FIELDS = frozenset(
    {
        "from",
        "to",
        "text",
        "type",
        "reference",
        "deliveryStatusesToNotify",
        "udh",
        "validity",
        "pid",
        "flash",
        "test",
        "callback",
        "format",
    }
)
MAX_NAME_LOGGED = 64  # characters of an unknown name written to the log


def _always(_: str) -> bool:
    return True


class UnknownFieldLog:
    """Remembers which (API key, field) pairs were logged; thread-safe, bounded.

    `first_time(name)` says whether no other process logged `name` yet (the daemon passes
    RunDir.once, so several HTTP workers still log a pair once); by default this process
    alone decides."""

    def __init__(self, capacity: int = 10_000, first_time: Callable[[str], bool] = _always) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._capacity = capacity
        self._first_time = first_time
        self._lock = threading.Lock()

    def note(self, api_key_id: str, names: Iterable[str]) -> list[str]:
        """Log unknown names not yet logged for this key; returns the ones logged now."""
        fresh = []
        with self._lock:
            for name in names:
                pair = (api_key_id, name)
                if name in SEND_FIELDS or pair in self._seen:
                    continue
                if len(self._seen) >= self._capacity:
                    break
                self._seen.add(pair)
                if self._first_time(f"unknown-field {api_key_id} {name}"):
                    fresh.append(name)
        for name in fresh:
            log.info(
                "ignoring unknown request field %r (logged once per API key)",
                name[:MAX_NAME_LOGGED],
                extra={"api_key_id": api_key_id},
            )
        return fresh
