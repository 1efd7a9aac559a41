"""`smpp-gateway webhooks list-dead | replay`: dead letters, shown and sent again.

Both open the store the daemon uses (`store.url` when set, else the SQLite file at
`store.path`); that is safe while the daemon runs: opening a store voids no webhook lease
(only a starting dispatcher does, Store.void_webhook_leases), SQLite lets one writer in at
a time, and the daemon's dispatcher picks replayed rows up at its next poll. A replayed
row is pending again, due now, with its attempt count reset. Its age still counts from
when it was created: one older than `max_age` gets one attempt per replay (a retryable
failure makes it dead again, with the new error).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from gateway.model import OutboxItem
from gateway.store import Store, StoreError, open_store
from gateway.store.location import parse_location
from gateway.timefmt import iso_from_seconds

COLUMNS = ("ID", "KIND", "METHOD", "CREATED", "ATTEMPTS", "URL", "LAST ERROR")
ERROR_WIDTH = 80


def _open(where: str, err: TextIO) -> Store | None:
    """The store at `where` (file path or URL); an admin command never creates a new file."""
    try:
        location = parse_location(where)
    except ValueError as exc:
        print(str(exc), file=err)
        return None
    if location.kind == "sqlite" and not Path(location.target).exists():
        print(f"no store at {location.target} (see [store] path and url)", file=err)
        return None
    try:
        return open_store(where)
    except StoreError as exc:
        print(str(exc), file=err)
        return None


def list_dead(
    store_path: str, limit: int = 100, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    store = _open(store_path, err)
    if store is None:
        return 1
    try:
        items = store.list_dead(limit)
    except StoreError as exc:
        print(str(exc), file=err)
        return 1
    finally:
        store.close()
    print(format_table(items), file=out)
    more = " (limit reached; --limit shows more)" if len(items) == limit else ""
    print(f"{len(items)} dead letter{'s' if len(items) != 1 else ''}{more}", file=out)
    return 0


def replay(
    store_path: str,
    ids: Sequence[str] | None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`ids` None: every dead letter. Exit status 1 when a named id was not a dead letter."""
    store = _open(store_path, err)
    if store is None:
        return 1
    try:
        count = store.replay_dead(None if ids is None else list(dict.fromkeys(ids)))
    except StoreError as exc:
        print(str(exc), file=err)
        return 1
    finally:
        store.close()
    print(f"replayed {count} dead letter{'s' if count != 1 else ''}", file=out)
    if ids is not None and count < len(set(ids)):
        print(f"{len(set(ids)) - count} of the ids given are not dead letters", file=err)
        return 1
    return 0


def format_table(items: Sequence[OutboxItem]) -> str:
    """A plain text table; URLs without their query string (it may carry message data)."""
    rows = [COLUMNS] + [
        (
            item.row.id,
            item.row.kind,
            item.row.method,
            iso_from_seconds(item.row.created_at)[:19] + "Z",
            str(item.attempts),
            _url_without_query(item.row.url),
            _one_line(item.last_error or "", ERROR_WIDTH),
        )
        for item in items
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _url_without_query(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
