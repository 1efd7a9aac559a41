"""A store as schema 0008 left it, filled with delivered messages: what migration 0009
(issue 15) takes in place. Used by its tests and by `python -m bench.migration_time`.

Each message is what 0008's code wrote for a delivered single-part message with a
callback: the message row, its segment, four history events, its matched receipt and
its delivered webhook; every tenth also has an unmatched receipt and a pending webhook.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gateway.store.migrate import MIGRATIONS_DIR

LAST_BEFORE_COMPACT = 8
T0 = 1_800_000_000.0


def migrations_up_to(version: int, directory: Path) -> Path:
    """A copy of the migrations numbered up to `version`, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in MIGRATIONS_DIR.iterdir():
        if path.name[:4].isdigit() and int(path.name[:4]) <= version:
            shutil.copy(path, directory / path.name)
    return directory


def fill(cur: Any, count: int, mark: str = "?", batch: int = 5_000) -> None:
    """`count` delivered messages as 0008 kept them (`mark`: the driver's placeholder)."""
    for start in range(0, count, batch):
        made = [_message(i) for i in range(start, min(count, start + batch))]
        for index, (table, columns) in enumerate(_TABLES):
            marks = ", ".join([mark] * len(columns))
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                [row for message in made for row in message[index]],
            )


_MESSAGE = (
    "id", "created_at", "api_key_id", "receiver", "receiver_as_given", "text", "text_length",
    "source_addr", "source_addr_ton", "source_addr_npi", "destination_addr", "dest_addr_ton",
    "dest_addr_npi", "data_coding", "esm_class", "protocol_id", "registered_delivery",
    "validity_minutes", "expires_at", "reference", "callback", "notify_statuses",
    "segment_count", "state", "state_changed_at", "attempts", "error_code", "done_at",
)  # fmt: skip
_SEGMENT = (
    "message_id", "seq", "payload", "smsc_message_id", "command_status", "submitted_at",
    "smsc_id_key", "receipt_state", "receipt_error", "receipt_at", "written_at",
)  # fmt: skip
_EVENT = ("message_id", "at", "state", "detail")
_RECEIPT = (
    "received_at", "session", "smsc_message_id", "id_key", "stat", "state", "error_code",
    "message_id", "seq", "matched_at",
)  # fmt: skip
_OUTBOX = (
    "id", "kind", "message_id", "created_at", "url", "method", "state", "attempts",
    "next_attempt_at", "finished_at", "body",
)  # fmt: skip
_TABLES = (  # in the order of _message's rows
    ("messages", _MESSAGE),
    ("segments", _SEGMENT),
    ("message_events", _EVENT),
    ("receipts", _RECEIPT),
    ("webhook_outbox", _OUTBOX),
)


def message_id(i: int) -> str:
    return f"0192a000-0000-7000-8000-{i:012d}"


def _message(i: int) -> tuple[list[tuple[Any, ...]], ...]:
    """(messages, segments, events, receipts, outbox) rows of message `i`."""
    mid, at = message_id(i), T0 + i * 0.001
    smsc_id = str(100_000_000 + i)
    text = f"Your code is {i:06d}"
    message = (
        mid, at, "k1", "41791234567", "41791234567", text, len(text), "Shop", 5, 0,
        "41791234567", 1, 1, 0, 0, 0, 1, 2880, at + 172_800, None, None, "", 1,
        "delivered", at + 0.3, 1, 0, at + 0.3,
    )  # fmt: skip
    segment = (mid, 0, text.encode(), smsc_id, 0, at + 0.02, smsc_id, "delivered", 0,
               at + 0.3, at + 0.01)  # fmt: skip
    events = [
        (mid, at, "accepted", None),
        (mid, at + 0.01, "submitting", "attempt 1"),
        (mid, at + 0.02, "sent", None),
        (mid, at + 0.3, "delivered", "receipt DELIVERED"),
    ]
    receipts: list[tuple[Any, ...]] = [
        (at + 0.3, "trx0", smsc_id, smsc_id, "DELIVRD", "delivered", 0, mid, 0, at + 0.3)
    ]
    body = f'{{"msgid":"{mid}","status":"DELIVERED"}}'.encode()
    url = "http://127.0.0.1:9/cb"
    outbox: list[tuple[Any, ...]] = [
        (f"{mid}:delivered", "callback", mid, at + 0.3, url, "POST", "delivered", 1, at + 0.3,
         at + 0.31, body),
    ]  # fmt: skip
    if i % 10 == 0:
        receipts.append((at, "trx0", f"x{i}", f"x{i}", "DELIVRD", "delivered", 0, None, None, None))
        outbox.append((f"{mid}:sent", "callback", mid, at, url, "POST", "pending", 0, at, None,
                       body))  # fmt: skip
    return [message], [segment], events, receipts, outbox
