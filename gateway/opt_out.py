"""The opt-out list: handsets that asked one of our numbers to stop (issue 14).

An inbound message whose whole text is a stop word (`webhooks.stop_words`: STOP, STOPP,
UNSUBSCRIBE by default; case and surrounding spaces ignored) puts its sender on the list
of the number it was sent to, in the same transaction that stores the message (its
webhook still fires). A send from that number to that handset is then refused with
responseCode 8 and a detail saying so, per receiver in a bulk. The admin commands list,
add and remove entries; each entry keeps when and why it was made.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def address(value: str) -> str:
    """The form both sides are kept in: no '+', no spaces (an alphanumeric name as is)."""
    return value.strip().lstrip("+").replace(" ", "")


def refusal(sender: str, receiver: str) -> str:
    """The detail of a send refused by the list."""
    return f"{receiver} opted out of messages from {sender} (smpp-gateway opt-out)"


def is_stop(text: str, stop_words: Iterable[str]) -> bool:
    """Whether an inbound `text` is one of the stop words."""
    word = text.strip().upper()
    return bool(word) and word in {w.strip().upper() for w in stop_words}


def _open(store_location: str) -> Any:
    """The store (imported here: the store's SQL imports this module for is_stop)."""
    from gateway.store import open_store

    return open_store(store_location)


def list_entries(store_location: str, limit: int) -> int:
    """`smpp-gateway opt-out list`: one entry per line, newest first."""
    store = _open(store_location)
    try:
        entries = store.list_opt_outs(limit)
    finally:
        store.close()
    for sender, receiver, at, reason in entries:
        print(f"{sender}\t{receiver}\t{at:.0f}\t{reason}")
    return 0


def add_entry(store_location: str, sender: str, receiver: str, reason: str) -> int:
    store = _open(store_location)
    try:
        store.add_opt_out(address(sender), address(receiver), f"admin: {reason}")
    finally:
        store.close()
    print(f"{address(receiver)} will not get messages from {address(sender)}")
    return 0


def remove_entry(store_location: str, sender: str, receiver: str) -> int:
    store = _open(store_location)
    try:
        removed = store.remove_opt_out(address(sender), address(receiver))
    finally:
        store.close()
    if not removed:
        print(f"no entry for {address(sender)} -> {address(receiver)}", file=sys.stderr)
        return 1
    print(f"removed: {address(sender)} -> {address(receiver)}")
    return 0
