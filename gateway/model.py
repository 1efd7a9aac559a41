"""Domain records shared by the HTTP layer, the engine and the store.

Plain frozen dataclasses: no I/O, no behaviour beyond small derived values, so every
layer can pass them around without importing another layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.lifecycle import FINAL as FINAL_STATES  # noqa: F401 (until callers move)
from gateway.lifecycle import State


@dataclass(frozen=True)
class Segment:
    """One short_message payload (UDH included when esm_class has UDHI)."""

    seq: int  # 0-based position in the message
    payload: bytes


@dataclass(frozen=True)
class SubmitParams:
    """The submit_sm fields that are the same for every segment of a message."""

    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    data_coding: int
    esm_class: int  # 0x40 (UDHI) when the payloads carry a UDH
    protocol_id: int = 0
    registered_delivery: int = 1
    validity_minutes: int | None = None  # relative validity_period when set


@dataclass(frozen=True)
class NewMessage:
    """A validated send, ready to be made durable by Store.accept()."""

    id: str  # the gateway's UUID, returned to the caller
    created_at: float  # epoch seconds
    api_key_id: str  # a non-secret label of the API key (never the key)
    receiver: str  # the `to` as normalised (E.164 digits, no +)
    receiver_as_given: str
    text: str  # as submitted (hex for binary)
    text_length: int
    submit: SubmitParams
    segments: tuple[Segment, ...]
    expires_at: float  # created_at + validity; not submitted after this
    reference: str | None = None
    callback: str | None = None
    notify_statuses: tuple[str, ...] = ()  # empty: all
    client: str = "default"  # the calling system (gateway/clients.py)


@dataclass(frozen=True)
class ClaimedMessage:
    """A message an engine has claimed for submission, with its unsent segments."""

    id: str
    submit: SubmitParams
    segments: tuple[Segment, ...]  # only those without a successful submit_sm_resp
    segment_count: int  # all segments of the message
    expires_at: float
    created_at: float
    attempts: int = 0
    unanswered: int = 0  # segments written to an SMSC by an earlier claim, never answered


@dataclass(frozen=True)
class SegmentResult:
    """Outcome of one submit_sm: the SMSC's id on success, the status either way."""

    message_id: str
    seq: int
    command_status: int
    smsc_message_id: str | None
    at: float


@dataclass(frozen=True)
class MessageView:
    """What GET /sms/<id> shows: the message, its segments and its history."""

    id: str
    state: State
    receiver: str
    created_at: float
    text_length: int
    segment_count: int
    reference: str | None
    error: str | None
    smpp_status: int | None
    smsc_message_ids: tuple[str | None, ...]
    history: tuple[tuple[float, str, str | None], ...] = field(default_factory=tuple)
    client: str = "default"


# -- receipts, inbound messages and webhooks ---------------------------------------------


@dataclass(frozen=True)
class ReceiptRecord:
    """A parsed delivery receipt as the store keeps it (before correlation)."""

    received_at: float
    session: str
    smsc_message_id: str
    id_keys: tuple[str, ...]  # normalised id first, then its hex/decimal readings
    stat: str  # the SMPP word (DELIVRD, ...)
    state: State  # the provider state it maps to
    error_code: int | None
    done_date: str | None


@dataclass(frozen=True)
class StateChange:
    """A message entered a new state: what a callback is built from."""

    message_id: str
    state: State
    at: float
    receiver: str
    reference: str | None
    callback: str | None
    notify_statuses: tuple[str, ...]
    submitted_at: float | None
    error_code: int | None
    cost: float | None = None
    client: str = "default"


@dataclass(frozen=True)
class InboundPart:
    """One received deliver_sm that is not a receipt, decoded."""

    received_at: float
    sender: str
    receiver: str
    coding: str  # GSM | Unicode | Binary
    text: str
    reference: int | None = None  # concatenation reference, None for a single part
    total: int = 1
    number: int = 1


@dataclass(frozen=True)
class InboundMessage:
    id: str
    received_at: float
    sender: str
    receiver: str
    coding: str
    text: str
    parts: int
    complete: bool


@dataclass(frozen=True)
class OutboxRow:
    """A webhook request to make, durable until a 2xx or a dead letter."""

    id: str
    kind: str  # callback | inbound
    message_id: str | None
    created_at: float
    url: str
    method: str  # GET | POST
    content_type: str | None
    body: bytes | None
    client: str | None = None  # whose message it reports: its signing (clients.py)


@dataclass(frozen=True)
class OutboxItem:
    """An outbox row claimed for delivery, or listed as a dead letter."""

    row: OutboxRow
    attempts: int
    state: str = "pending"
    last_error: str | None = None
