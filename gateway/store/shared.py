"""What both backends do the same way: the same SQL (store/sql/) through their writers.

PostgreSQL runs the SQLite statements unchanged (postgres/conn.py), so the outbox, dead
letter, depth and usage operations are one implementation here. A backend supplies
`_read(fn)` (one consistent snapshot), `_any_writer()` (the writer thread to queue on)
and `_clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from gateway.lifecycle import State
from gateway.model import OutboxItem
from gateway.model_api import ReceiverUsage
from gateway.store.base import StoreHooks, journaled
from gateway.store.sql import api, outbox, states
from gateway.store.sql import messages as ops
from gateway.store.writer import Writer

ENQUEUE_TIMEOUT = 2.0  # how long an asynchronous write may block on a full queue


class SharedOperations:
    """Store methods whose SQL and threading are the same on SQLite and PostgreSQL."""

    _clock: Callable[[], float]
    _hooks: StoreHooks

    def _read(self, fn: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def _any_writer(self) -> Writer:
        raise NotImplementedError

    def _finish_op(
        self, message_id: str, state: State, at: float, error: str | None, smpp_status: int | None
    ) -> Callable[[Any], Any]:
        """The write behind finish(): the transition, with its callback, in one go."""
        return journaled(
            self._hooks,
            states.transition,
            message_id,
            State(state),
            at,
            error=error,
            smpp_status=smpp_status,
        )

    def _async(self, op: Callable[[Any], Any], label: str) -> None:
        """Queue a write nobody waits for; its failure is logged by the writer."""
        self._any_writer().submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def outbox_delivered(self, item_id: str, at: float) -> None:
        self._async(partial(outbox.delivered, item_id=item_id, at=at), f"delivered {item_id}")

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        op = partial(outbox.retry, item_id=item_id, next_at=next_at, error=error)
        self._async(op, f"retry {item_id}")

    def outbox_dead(self, item_id: str, error: str, at: float) -> None:
        self._async(partial(outbox.dead, item_id=item_id, error=error, at=at), f"dead {item_id}")

    def replay_dead(self, ids: Sequence[str] | None = None) -> int:
        op = partial(outbox.replay, ids=ids, now=self._clock())
        return self._any_writer().call(op, label="replay", timeout=30.0)

    def list_dead(self, limit: int = 100) -> list[OutboxItem]:
        return self._read(partial(outbox.list_dead, limit=limit))

    def outbox_depth(self) -> int:
        return self._read(outbox.depth)

    def outbox_next_due(self) -> float | None:
        return self._read(outbox.next_due)

    def unmatched_receipts(self) -> int:
        return self._read(states.unmatched_count)

    def pending_count(self) -> int:
        return self._read(lambda c: c.execute(ops.COUNT_PENDING).fetchone()[0])

    def usage_by_receiver(
        self, start: float, end: float, client: str | None = None
    ) -> list[ReceiverUsage]:
        return self._read(partial(api.usage, start=start, end=end, client=client))

    def spend_quota(self, client: str, limits: Sequence[tuple[str, int]], parts: int) -> str | None:
        op = partial(api.spend_quota, client=client, limits=limits, parts=parts)
        return self._any_writer().call(op, label=f"quota {client}", timeout=10.0)

    def client_counts(self, since: float) -> dict[str, int]:
        return self._read(partial(api.client_counts, since=since))

    def quota_used(self, periods: Sequence[str]) -> dict[tuple[str, str], int]:
        return self._read(partial(api.quota_used, periods=periods))

    # -- the opt-out list (gateway/opt_out.py) ---------------------------------------

    def opted_out(self, sender: str, receivers: Sequence[str]) -> set[str]:
        return self._read(partial(api.opted_out, sender=sender, receivers=receivers))

    def add_opt_out(self, sender: str, receiver: str, reason: str) -> None:
        op = partial(api.add_opt_out, sender=sender, receiver=receiver, at=self._clock(),
                     reason=reason)  # fmt: skip
        self._any_writer().call(op, label=f"opt-out {receiver}", timeout=10.0)

    def remove_opt_out(self, sender: str, receiver: str) -> bool:
        op = partial(api.remove_opt_out, sender=sender, receiver=receiver)
        return bool(self._any_writer().call(op, label=f"opt-in {receiver}", timeout=10.0))

    def list_opt_outs(self, limit: int = 100) -> list[tuple[str, str, float, str]]:
        return self._read(partial(api.list_opt_outs, limit=limit))
