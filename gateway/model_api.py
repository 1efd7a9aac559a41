"""Records of the API surface beyond sending: idempotency, conversions, usage.

Plain frozen dataclasses shared by the HTTP layer and the store, like model.py; kept in
their own module so the send path's records and these can change independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class IdempotencyRecord:
    """The answer given to the first request carrying an Idempotency-Key.

    `response` is the JSON body as text: the store keeps it opaque, the HTTP layer
    renders it again (JSON or XML) for a repeat.
    """

    api_key_id: str  # non-secret label of the API key: keys are per caller
    key: str  # the Idempotency-Key header value
    request_hash: str  # tells a repeat from a different request under the same key
    status: int  # HTTP status of the stored answer
    response: str  # JSON text of the stored answer
    created_at: float  # epoch seconds
    expires_at: float  # epoch seconds; the key is free again after this


class Conversion(StrEnum):
    """What POST /sms/converted found."""

    CONVERTED = "converted"  # recorded now
    REPEATED = "repeated"  # was already recorded; the first time is kept
    UNKNOWN = "unknown"  # no such message for this API key


@dataclass(frozen=True)
class ReceiverUsage:
    """Messages the SMSC took for one receiver in a period, and their summed cost."""

    receiver: str  # E.164 digits, no +
    messages: int
    cost: float | None  # None when no message to this receiver carried a cost
