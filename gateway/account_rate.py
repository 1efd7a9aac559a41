"""`smpp.max_rate`: the account's submit rate, shared by every session and every daemon.

An account with a contractual limit must be paced to it, never throttled into it. The
limit is the account's, so the bucket lives in the store (the `rate_buckets` row
BUCKET), where every daemon on that store takes from it. Taking one token per submit
would be a store write per submit, so a daemon takes a batch of BATCH_SECONDS worth at
once and hands them to its sessions; the store's bucket holds at most BURST_SECONDS
worth, so together the daemons stay within the rate plus that burst.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.store import StoreError

log = logging.getLogger("gateway.engine")

BUCKET = "smpp:submit"
BATCH_SECONDS = 0.05  # tokens taken from the store at once: ~20 store writes a second
BURST_SECONDS = 0.1  # what the store's bucket keeps for a daemon that was idle

TakeTokens = Callable[[str, float, float, int], tuple[int, float]]  # Store.take_tokens


class AccountRate:
    """Tokens for submits: taken from the store's bucket in batches, handed out here."""

    def __init__(self, rate: float, take_tokens: TakeTokens, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._batch = max(1, int(rate * BATCH_SECONDS))
        self._burst = max(float(self._batch), rate * BURST_SECONDS)
        self._take_tokens = take_tokens
        self._clock = clock
        self._lock = threading.Lock()
        self._held = 0
        self._next_try = 0.0

    def take(self, wanted: int, stopping: threading.Event, timeout: float) -> int:
        """Up to `wanted` submits may be written now; 0 after waiting at most `timeout`
        (the bucket is empty, or the store cannot be asked)."""
        with self._lock:
            if not self._held:
                self._refill()
            granted = min(wanted, self._held)
            self._held -= granted
            wait = max(0.0, self._next_try - self._clock())
        if not granted:
            stopping.wait(min(timeout, wait) if wait else timeout)
        return granted

    def give_back(self, count: int) -> None:
        """Tokens taken and not used; kept up to one batch (more would let a burst out)."""
        with self._lock:
            self._held = min(self._batch, self._held + max(0, count))

    def _refill(self) -> None:
        now = self._clock()
        if now < self._next_try:
            return
        try:
            taken, wait = self._take_tokens(BUCKET, self.rate, self._burst, self._batch)
        except StoreError as exc:
            log.warning("cannot take submit tokens from the store: %s", exc)
            taken, wait = 0, 1.0
        self._held += taken
        # Short of a batch: ask again when a whole one will have refilled, not for each
        # token (each ask is a store write, queued behind the engine's other writes).
        short = (self._batch - taken) / self.rate
        self._next_try = now + max(wait, short) if taken < self._batch else 0.0
