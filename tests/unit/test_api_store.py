"""The store's API extras on real SQLite files: idempotency records written with their
messages, conversions, and usage per receiver."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.model import NewMessage, Segment, SegmentResult, SubmitParams
from gateway.model_api import Conversion, IdempotencyRecord, ReceiverUsage
from gateway.store import open_store
from gateway.store.sqlite.store import SQLiteStore
from gateway.usage import parse_period, usage_rows

PARAMS = SubmitParams("Gateway", 5, 0, "491725551234", 1, 1, 0, 0)
DAY = 86_400.0
T0 = 1_700_006_400.0  # 2023-11-15 00:00 UTC


def msg(mid: str, receiver: str = "491725551234", created_at: float = T0, key: str = "k1"):
    return NewMessage(
        id=mid,
        created_at=created_at,
        api_key_id=key,
        receiver=receiver,
        receiver_as_given=receiver,
        text="hello",
        text_length=5,
        submit=PARAMS,
        segments=(Segment(0, b"hello"),),
        expires_at=created_at + 3600,
    )


def record(key: str = "idem-1", request_hash: str = "h1", at: float = T0, **kw: Any):
    fields = dict(api_key_id="k1", key=key, request_hash=request_hash, status=200)
    fields.update(response='{"id":"m1"}', created_at=at, expires_at=at + DAY)
    fields.update(kw)
    return IdempotencyRecord(**fields)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.db")


@pytest.fixture
def store(db: str) -> Iterator[SQLiteStore]:
    s = open_store(db)
    yield s  # type: ignore[misc]
    s.close()


def test_a_new_key_stores_record_and_messages_together(store: SQLiteStore) -> None:
    assert store.accept_idempotent([msg("m1")], record()) is None
    assert store.get_message("m1") is not None
    assert store.get_idempotency("k1", "idem-1", T0 + 1) == record()
    assert store.get_idempotency("k2", "idem-1", T0 + 1) is None  # keys are per API key


def test_a_live_key_returns_the_first_record_and_stores_nothing(store: SQLiteStore) -> None:
    store.accept_idempotent([msg("m1")], record())
    existing = store.accept_idempotent([msg("m2")], record(request_hash="h2", at=T0 + 5))
    assert existing == record()
    assert store.get_message("m2") is None


def test_an_expired_key_can_be_used_again(store: SQLiteStore) -> None:
    store.accept_idempotent([msg("m1")], record())
    assert store.get_idempotency("k1", "idem-1", T0 + DAY) is None
    later = record(request_hash="h2", at=T0 + DAY + 1)
    assert store.accept_idempotent([msg("m2")], later) is None
    assert store.get_idempotency("k1", "idem-1", T0 + DAY + 2) == later
    assert store.get_message("m2") is not None


def test_records_survive_a_reopen(db: str) -> None:
    first = open_store(db)
    first.accept_idempotent([msg("m1")], record())
    first.close()
    again = open_store(db)
    try:
        assert again.get_idempotency("k1", "idem-1", T0 + 1) == record()
    finally:
        again.close()


def test_concurrent_requests_with_one_key_store_one_message(store: SQLiteStore) -> None:
    results: list[IdempotencyRecord | None] = []
    start = threading.Barrier(8)

    def attempt(i: int) -> None:
        start.wait(5)
        results.append(store.accept_idempotent([msg(f"m{i}")], record(response=f"r{i}")))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    winners = [i for i in range(8) if store.get_message(f"m{i}") is not None]
    assert len(winners) == 1 and results.count(None) == 1
    assert {r.response for r in results if r is not None} == {f"r{winners[0]}"}


def test_conversions_known_repeated_and_unknown(store: SQLiteStore) -> None:
    store.accept([msg("m1"), msg("other", key="k2")])
    assert store.mark_converted("m1", "k1", T0) is Conversion.CONVERTED
    assert store.mark_converted("m1", "k1", T0 + 1) is Conversion.REPEATED
    assert store.mark_converted("nope", "k1", T0) is Conversion.UNKNOWN
    assert store.mark_converted("other", "k1", T0) is Conversion.UNKNOWN  # not this key's


def test_usage_counts_messages_the_smsc_took_per_receiver_across_days(
    store: SQLiteStore, db: str
) -> None:
    sent = [
        msg("de1", "491725551234", T0 + 10),
        msg("de2", "491725551234", T0 + DAY + 10),  # the next day
        msg("bg1", "359888123456", T0 + DAY + 20),
        msg("us1", "12025550123", T0 + 30),
    ]
    unsent = msg("de3", "491725551234", T0 + 40)  # never taken by the SMSC
    outside = msg("de4", "491725551234", T0 + 2 * DAY + 1)  # after the period
    store.accept([*sent, unsent, outside])
    store.record_results([SegmentResult(m.id, 0, 0, m.id, T0) for m in [*sent, outside]])
    store.flush()
    with sqlite3.connect(db) as conn:  # a receipt that carried a cost (0002's column)
        conn.execute("UPDATE messages SET cost = 1.4 WHERE id = 'bg1'")
    period = parse_period("2023-11-15", "20231116")
    usage = sorted(store.usage_by_receiver(period.start, period.end), key=lambda u: u.receiver)
    assert usage == [
        ReceiverUsage("12025550123", 1, None),
        ReceiverUsage("359888123456", 1, 1.4),
        ReceiverUsage("491725551234", 2, None),
    ]
    assert usage_rows(usage) == [
        {"country": "BGR", "messagesCount": "1", "cost": "1.4"},
        {"country": "DEU", "messagesCount": "2", "cost": None},
        {"country": "USA", "messagesCount": "1", "cost": None},
    ]
    one_day = parse_period("2023-11-16", "2023-11-16")
    assert {u.receiver for u in store.usage_by_receiver(one_day.start, one_day.end)} == {
        "491725551234",
        "359888123456",
    }


def test_a_token_bucket_allows_a_burst_then_the_rate_per_bucket(db: str) -> None:
    now = [T0]
    store = open_store(db, clock=lambda: now[0])
    try:
        assert [store.take_token("a", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
        assert store.take_token("a", 2.0, 3) == pytest.approx(0.5)
        assert store.take_token("b", 2.0, 3) == 0.0  # another bucket is its own
        now[0] += 0.5
        assert store.take_token("a", 2.0, 3) == 0.0 and store.take_token("a", 2.0, 3) > 0
    finally:
        store.close()


def test_tokens_are_taken_in_batches_up_to_what_the_bucket_holds(db: str) -> None:
    """smpp.max_rate takes a batch per store write (gateway/account_rate.py)."""
    now = [T0]
    store = open_store(db, clock=lambda: now[0])
    try:
        assert store.take_tokens("s", 100.0, 10, 4) == (4, 0.0)
        assert store.take_tokens("s", 100.0, 10, 8) == (6, 0.0)  # what was left
        taken, wait = store.take_tokens("s", 100.0, 10, 8)
        assert taken == 0 and wait == pytest.approx(0.01)
        now[0] += 0.051
        assert store.take_tokens("s", 100.0, 10, 8) == (5, 0.0)  # refilled at 100/s
    finally:
        store.close()


def test_a_taker_queued_earlier_does_not_refill_the_bucket_twice(db: str) -> None:
    """Takers read the time when they queue: one that commits after a later one must
    not move the bucket's time back (the span between would be refilled again)."""
    now = [T0]
    store = open_store(db, clock=lambda: now[0])
    try:
        assert store.take_tokens("r", 10.0, 1, 1) == (1, 0.0)  # at T0: empty now
        now[0] = T0 + 1.0
        assert store.take_tokens("r", 10.0, 1, 1) == (1, 0.0)  # refilled by T0 + 1
        now[0] = T0 + 0.5  # an earlier-queued taker commits late
        assert store.take_tokens("r", 10.0, 1, 1)[0] == 0  # nothing: T0 + 1 was the last
    finally:
        store.close()


def test_a_token_bucket_is_one_bucket_for_every_process_on_the_file(db: str) -> None:
    """Two stores on one file (two HTTP workers): one burst between them, not one each."""
    first, second = open_store(db), open_store(db)
    try:
        taken = [s.take_token("k", 0.001, 4) for s in (first, second) * 4]
        assert taken.count(0.0) == 4
    finally:
        first.close()
        second.close()
