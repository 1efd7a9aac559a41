"""What a delivered message keeps at rest (issue 15), on real SQLite files: the history
as lines on the message, no delivered webhook, no matched receipt, no text once final
(unless store.keep_text), and the migration from the schema before (0008).

Why: these are the bytes `make bench` counts (the `disk` scenario); each test pins one
of them, and that GET /sms/<id> still shows what it showed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.lifecycle import State
from gateway.model import (
    InboundPart,
    NewMessage,
    OutboxRow,
    ReceiptRecord,
    Segment,
    SegmentResult,
    StateChange,
    SubmitParams,
)
from gateway.store import open_store
from gateway.store.base import StoreHooks
from gateway.store.sql import history
from gateway.store.sql.retention import Purged

PARAMS = SubmitParams("Shop", 5, 0, "41791234567", 1, 1, 0, 0)
T0 = 1_800_000_000.0


def msg(mid: str, text: str = "Your code is 123456") -> NewMessage:
    return NewMessage(
        id=mid,
        created_at=T0,
        api_key_id="k1",
        receiver="41791234567",
        receiver_as_given="+41 79 123 45 67",
        text=text,
        text_length=len(text),
        submit=PARAMS,
        segments=(Segment(0, text.encode()),),
        expires_at=T0 + 3600,
    )


def test_every_state_has_a_history_code_and_lines_read_back() -> None:
    assert set(history.CODES) == set(State) and len(set(history.CODES.values())) == len(State)
    text = history.line(T0 + 0.001, T0, "accepted") + history.line(
        T0 + 0.25, T0, "failed", "SMSC refused: a:b\nc"
    )
    assert history.parse(text, T0) == (
        (pytest.approx(T0 + 0.001), "accepted", None),
        (pytest.approx(T0 + 0.25), "failed", "SMSC refused: a:b c"),
    )


def deliver(store, mid: str, smsc_id: str) -> None:
    """Claim, submit, answer and receipt one message: delivered."""
    store.accept([msg(mid)])
    store.claim(10)
    store.record_written([(mid, 0)], T0 + 0.01)
    store.record_results([SegmentResult(mid, 0, 0, smsc_id, T0 + 0.02)])
    store.record_receipt(receipt(smsc_id, (smsc_id,))).result(10)
    store.flush()


def receipt(smsc_id: str, keys: tuple[str, ...]) -> ReceiptRecord:
    return ReceiptRecord(
        received_at=T0 + 0.5,
        session="trx0",
        smsc_message_id=smsc_id,
        id_keys=keys,
        stat="DELIVRD",
        state=State.DELIVERED,
        error_code=0,
        done_date=None,
    )


@pytest.mark.parametrize("keep_text", [False, True])
def test_a_delivered_message_keeps_its_history_and_loses_its_text(
    tmp_path: Path, keep_text: bool
) -> None:
    hooks = StoreHooks()
    hooks.keep_text = keep_text
    store = open_store(str(tmp_path / "g.db"), hooks=hooks, clock=lambda: T0)
    try:
        deliver(store, "m1", "4242")
        view = store.get_message("m1")
        assert view is not None and view.state is State.DELIVERED
        # (the engine, not the store, marks `sent` between submitting and the receipt)
        assert [state for _, state, _ in view.history] == ["accepted", "submitting", "delivered"]
        assert view.history[1][2] == "attempt 1" and view.text_length == 19
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "g.db") as conn:
        text, given = conn.execute("SELECT text, receiver_as_given FROM messages").fetchone()
        payload, key = conn.execute("SELECT payload, smsc_id_key FROM segments").fetchone()
        receipts = conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    assert (text, bytes(payload)) == (
        ("Your code is 123456", b"Your code is 123456") if keep_text else ("", b"")
    )
    assert given == "+41 79 123 45 67"  # kept: it differs from the receiver
    assert key is None  # "4242" is its own key
    assert receipts == 0  # matched: its facts are on the segment


def test_a_receipt_before_its_resp_waits_in_receipts_then_leaves(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "g.db"), clock=lambda: T0)
    try:
        store.accept([msg("m1")])
        store.claim(10)
        assert store.record_receipt(receipt("1F", ("1f", "31"))).result(10) is False
        assert store.unmatched_receipts() == 1
        store.record_results([SegmentResult("m1", 0, 0, "1F", T0 + 0.02)])
        store.flush()
        assert store.unmatched_receipts() == 0
        view = store.get_message("m1")
        assert view is not None and view.state is State.DELIVERED
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("SELECT smsc_id_key FROM segments").fetchone()[0] == "1f"


class CallbackOnFinal(StoreHooks):
    """A callback row for each final state, as gateway/webhooks/callbacks.py makes them."""

    def on_state_change(self, change: StateChange) -> OutboxRow | None:
        if not change.state.final:
            return None
        url = "http://127.0.0.1:9/cb"
        return OutboxRow(f"{change.message_id}:d", "callback", change.message_id, change.at,
                         url, "GET", None, None)  # fmt: skip


def test_a_delivered_webhook_is_not_kept(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "g.db"), hooks=CallbackOnFinal(), clock=lambda: T0)
    try:
        deliver(store, "m1", "4242")
        assert store.outbox_depth() == 1
        store.outbox_delivered("m1:d", T0 + 1)
        store.flush()
        assert store.outbox_depth() == 0
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM webhook_outbox").fetchone()[0] == 0


def test_retention_takes_old_inbound_messages_and_receipts_that_never_matched(
    tmp_path: Path,
) -> None:
    """Both were kept for ever before migration 0009."""
    store = open_store(str(tmp_path / "g.db"), clock=lambda: T0)
    try:
        store.record_inbound(InboundPart(T0, "41791234567", "12345", "GSM", "hi")).result(10)
        assert store.record_receipt(receipt("999", ("999",))).result(10) is False
        assert store.purge(T0, 10) == Purged(0, 0, 0, 0)  # not older than the cut-off
        assert store.purge(T0 + 1, 10) == Purged(0, 0, 1, 1)
        assert store.unmatched_receipts() == 0
    finally:
        store.close()
