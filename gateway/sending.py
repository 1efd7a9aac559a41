"""The one path from a validated request to the store, for POST /sms and POST /smsbulk.

A send is accepted when its messages are durable: the store commits them (with the
request's Idempotency-Key and its answer, in the same transaction, when it has one), the
engine is woken, and only then does the caller hear responseCode 0. Nothing here knows
HTTP: the views validate and render, this makes durable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway import metrics
from gateway.model import NewMessage
from gateway.model_api import IdempotencyRecord
from gateway.store import Store


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's Idempotency-Key: per API key, and bound to what the request asks for."""

    api_key_id: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    """What the caller is told when the messages are stored, kept for a repeat."""

    status: int  # HTTP status
    body: str  # JSON text, as sent


class Sender:
    """Makes sends durable and wakes the engine; see the module docstring."""

    def __init__(
        self,
        store: Store,
        wake: Callable[[], None],
        idempotency_window: float,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._wake = wake
        self._window = idempotency_window
        self._clock = clock

    def earlier_answer(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        """The live record of an earlier request with this key, or None. A read, so a
        repeat is answered before anything is composed; the write checks again."""
        return self._store.get_idempotency(key.api_key_id, key.key, self._clock())

    def accept(
        self, messages: Sequence[NewMessage], key: IdempotencyKey | None, answer: Answer
    ) -> IdempotencyRecord | None:
        """Make `messages` durable, with `answer` kept under `key` when there is one.

        Returns None when stored: give `answer`. Returns the earlier request's record
        instead when a request with the same key committed first (nothing was stored).
        Raises StoreError when the store cannot take them (the caller answers 503).
        """
        if key is None:
            self._store.accept(messages)
        else:
            earlier = self._store.accept_idempotent(messages, self._record(key, answer))
            if earlier is not None:
                return earlier
        self._wake()
        metrics.MESSAGES_ACCEPTED.inc(len(messages))
        return None

    def _record(self, key: IdempotencyKey, answer: Answer) -> IdempotencyRecord:
        now = self._clock()
        return IdempotencyRecord(
            api_key_id=key.api_key_id,
            key=key.key,
            request_hash=key.request_hash,
            status=answer.status,
            response=answer.body,
            created_at=now,
            expires_at=now + self._window,
        )
