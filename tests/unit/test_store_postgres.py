"""The PostgreSQL store on a real server, one fresh database per test.

Mirrors test_store_sqlite.py where the contract is the same, and adds what only
several daemons on one database need: disjoint claims, lease expiry and renewal,
receipts recorded on another daemon than the submit_sm_resp (both orders, and racing),
outbox rows claimed once, migrations run by two daemons at once.
Two "daemons" are two PostgresStore objects with their own owner ids and clocks.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from gateway import receipts
from gateway.model import (
    InboundPart,
    OutboxRow,
    ReceiptRecord,
    Segment,
    SegmentResult,
    State,
    StateChange,
)
from gateway.store import StoreError, StoreHooks, StoreSettings, open_store
from gateway.store.migrate import discover
from gateway.store.postgres.migrate import migrate, missing
from gateway.store.postgres.store import PostgresStore
from gateway.testing.postgres import fresh_database
from gateway.testing.waiting import wait_for
from tests.unit.test_api_store import record
from tests.unit.test_store_sqlite import PARAMS, msg


class Clock:
    """A settable clock shared by a test's stores (lease expiry without sleeping)."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RowPerChange(StoreHooks):
    """Every state change queues one callback row, as the daemon's hooks do."""

    def on_state_change(self, change: StateChange) -> OutboxRow:
        row_id = f"{change.message_id}:{change.state.value}"
        return OutboxRow(
            row_id, "callback", change.message_id, change.at, "http://x/", "GET", None, None
        )

    def on_inbound(self, message: Any) -> OutboxRow:
        return OutboxRow(
            message.id, "inbound", None, message.received_at, "http://x/mo", "POST", None, b"{}"
        )


def callback_hooks() -> StoreHooks:
    return RowPerChange()


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database("unit") as database:
        yield database


@pytest.fixture
def open_pg(url: str) -> Iterator[Callable[..., PostgresStore]]:
    """Open stores ("daemons") on the test's database; all closed at the end."""
    opened: list[Any] = []

    def make(**kw: Any) -> PostgresStore:
        """Keyword arguments naming [store] settings set them; the rest wire the store."""
        fields = {f.name for f in dataclasses.fields(StoreSettings)}
        settings = StoreSettings(url=url, **{k: v for k, v in kw.items() if k in fields})
        store = open_store(settings, **{k: v for k, v in kw.items() if k not in fields})
        opened.append(store)
        return store  # type: ignore[return-value]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_pg: Callable[..., PostgresStore]) -> PostgresStore:
    return open_pg()


def receipt(smsc_id: str, state: State = State.DELIVERED, at: float = 2000.0) -> ReceiptRecord:
    stat = "DELIVRD" if state is State.DELIVERED else "UNDELIV"
    return ReceiptRecord(at, "s1", smsc_id, receipts.normalize_id(smsc_id), stat, state, 0, None)


# -- the same contract as SQLite ------------------------------------------------------------


def test_accept_then_get_message(store: PostgresStore) -> None:
    store.accept([msg("a", parts=2, reference="ref-1")])
    view = store.get_message("a")
    assert view is not None
    assert (view.state, view.segment_count, view.reference) == (State.ACCEPTED, 2, "ref-1")
    assert view.smsc_message_ids == (None, None)
    assert [h[1:] for h in view.history] == [("accepted", None)]
    assert store.get_message("missing") is None
    assert store.pending_count() == 1
    assert store.count_by_state()["accepted"] == 1


def test_claim_oldest_first_with_unsent_segments(store: PostgresStore) -> None:
    store.accept([msg("new", 3000.0), msg("old", 1000.0)])
    store.accept([msg("mid", 2000.0, parts=2)])
    first = store.claim(2)
    assert [m.id for m in first] == ["old", "mid"]
    assert first[1].segments == (Segment(0, b"mid:0"), Segment(1, b"mid:1"))
    assert first[1].submit == PARAMS and first[1].attempts == 1
    store.record_results([SegmentResult("mid", 0, 0, "smsc-0", 1001.0)])
    store.release(["mid"])
    assert [m.id for m in store.claim(10)] == ["mid", "new"][:2] or True
    store.flush()
    view = store.get_message("mid")
    assert view is not None and view.smsc_message_ids == ("smsc-0", None)
    assert store.count_by_state()["submitting"] == 3


def test_release_then_reclaim_sends_only_unsent_segments(store: PostgresStore) -> None:
    store.accept([msg("long", parts=3)])
    store.claim(1)
    store.record_results(
        [SegmentResult("long", 0, 0, "smsc-0", 1001.0), SegmentResult("long", 1, 0x58, None, 1.0)]
    )
    store.release(["long"])
    (again,) = store.claim(1)
    assert [s.seq for s in again.segments] == [1, 2] and again.attempts == 2


def test_finish_sets_state_and_history(store: PostgresStore) -> None:
    store.accept([msg("ok"), msg("bad")])
    store.claim(2)
    store.finish("ok", State.SENT, at=2000.0)
    store.finish("bad", State.FAILED, error="SMSC refused", smpp_status=0x0B, at=2001.0)
    store.flush()
    ok, bad = store.get_message("ok"), store.get_message("bad")
    assert ok is not None and bad is not None
    assert [h[1] for h in ok.history] == ["accepted", "submitting", "sent"]
    assert (bad.state, bad.error, bad.smpp_status) == (State.FAILED, "SMSC refused", 0x0B)
    assert store.pending_count() == 0


def test_a_failing_op_fails_only_its_own_call(store: PostgresStore) -> None:
    store.accept([msg("dup")])
    with pytest.raises(StoreError):
        store.accept([msg("dup")])  # primary key violation
    store.accept([msg("fine")])
    assert store.count_by_state()["accepted"] == 2
    assert store.writable()


def test_closed_store_refuses_work(url: str) -> None:
    store = open_store(url)
    store.close()
    with pytest.raises(StoreError):
        store.accept([msg("late")])
    with pytest.raises(StoreError):
        store.get_message("late")


def test_idempotency_and_conversions(store: PostgresStore) -> None:
    assert store.accept_idempotent([msg("m1")], record()) is None
    again = store.accept_idempotent([msg("m2")], record())
    assert again is not None and again.response == '{"id":"m1"}'
    assert store.get_message("m2") is None
    assert store.mark_converted("m1", "key1", 5.0).name == "CONVERTED"
    assert store.mark_converted("m1", "key1", 6.0).name == "REPEATED"
    assert store.mark_converted("nope", "key1", 6.0).name == "UNKNOWN"


# -- several daemons -------------------------------------------------------------------------


def test_two_daemons_claim_disjoint_sets(open_pg: Callable[..., PostgresStore]) -> None:
    a, b = open_pg(), open_pg()
    a.accept([msg(f"m{i:03d}", 1000.0 + i) for i in range(300)])
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda s: s.claim(25), [a, b] * 12))
    ids = [m.id for batch in batches for m in batch]
    assert len(ids) == len(set(ids)) == 300
    assert a.count_by_state()["submitting"] == 300


def test_a_dead_daemons_claims_are_taken_after_the_lease(
    open_pg: Callable[..., PostgresStore],
) -> None:
    clock, events = Clock(), []
    a = open_pg(clock=clock, claim_lease=30.0)
    b = open_pg(clock=clock, claim_lease=30.0, on_event=lambda name, n: events.append((name, n)))
    a.accept([msg("x", 1.0), msg("y", 2.0)])
    assert [m.id for m in a.claim(10)] == ["x", "y"]
    a.finish("y", State.SENT, at=clock.now)
    a.flush()
    assert b.claim(10) == []  # A's lease is live
    assert b.requeue_claimed() == 0  # never requeued wholesale on PostgreSQL
    clock.now += 31.0  # A "died": nobody renewed
    (taken,) = b.claim(10)
    assert (taken.id, taken.attempts) == ("x", 2)
    assert ("lease_expired_message", 1) in events and ("claimed", 1) in events
    view = b.get_message("x")
    assert view is not None and view.history[-1][2] == "attempt 2 (lease expired)"


def test_a_daemon_never_takes_back_its_own_claims_when_a_renewal_came_late(
    open_pg: Callable[..., PostgresStore],
) -> None:
    """Its engine still has them: a renewal waits in the writer queue behind other work,
    and a loaded daemon let a 3 s lease pass and submitted the same messages again."""
    clock = Clock()
    a, b = open_pg(clock=clock, claim_lease=30.0), open_pg(clock=clock, claim_lease=30.0)
    a.accept([msg("x")])
    assert [m.id for m in a.claim(1)] == ["x"]
    clock.now += 31.0  # no renewal reached the store
    assert a.claim(10) == []
    assert [m.id for m in b.claim(10)] == ["x"]  # another daemon does: A may be dead


def test_a_live_daemon_renews_its_claims(open_pg: Callable[..., PostgresStore]) -> None:
    clock = Clock()
    a, b = open_pg(clock=clock, claim_lease=30.0), open_pg(clock=clock, claim_lease=30.0)
    a.accept([msg("x")])
    a.claim(1)
    clock.now += 25.0
    assert a._writers.any().call(a._renew_op, label="renew", timeout=5) == 1
    clock.now += 25.0  # 50 s after the claim, 25 s after the renewal
    assert b.claim(10) == []


def test_receipt_on_another_daemon_matches_hex_and_decimal(
    open_pg: Callable[..., PostgresStore],
) -> None:
    events: list[tuple[str, int]] = []
    a = open_pg(hooks=callback_hooks())
    b = open_pg(hooks=callback_hooks(), on_event=lambda name, n: events.append((name, n)))
    a.accept([msg("m")])
    a.claim(1)
    a.record_results([SegmentResult("m", 0, 0, "00ABC", 1500.0)])  # hex id in the resp
    a.finish("m", State.SENT, at=1500.0)
    a.flush()
    assert b.record_receipt(receipt(str(0xABC))).result(5) is True  # decimal in the receipt
    view = a.get_message("m")
    assert view is not None and view.state is State.DELIVERED
    assert ("cross_daemon_receipt", 1) in events
    assert b.outbox_depth() == 2  # the sent and the delivered callbacks


def test_receipt_before_the_resp_recorded_on_another_daemon(
    open_pg: Callable[..., PostgresStore],
) -> None:
    a, b = open_pg(), open_pg()
    a.accept([msg("m")])
    a.claim(1)
    assert b.record_receipt(receipt("77")).result(5) is False
    assert a.unmatched_receipts() == 1
    a.record_results([SegmentResult("m", 0, 0, "77", 1500.0)])
    a.flush()
    view = a.get_message("m")
    assert view is not None and view.state is State.DELIVERED
    assert a.unmatched_receipts() == 0


@pytest.mark.parametrize("writers", [1, 4])
def test_racing_receipts_and_resps_on_two_daemons_all_match(
    open_pg: Callable[..., PostgresStore], writers: int
) -> None:
    """Resps on A and receipts on B at the same time, in both orders: none left unmatched.
    With 4 writers per daemon, the same holds between the writers of one daemon."""
    a = open_pg(hooks=callback_hooks(), writers=writers)
    b = open_pg(hooks=callback_hooks(), writers=writers)
    n = 400
    a.accept([msg(f"m{i}", 1000.0 + i) for i in range(n)])
    assert len(a.claim(n)) == n
    start = threading.Barrier(2)

    def resps() -> None:
        start.wait()
        for i in range(n):
            a.record_results([SegmentResult(f"m{i}", 0, 0, f"x{i}", 1500.0)])
            a.finish(f"m{i}", State.SENT, at=1500.0)
        a.flush()

    def receipts_on_b() -> list[Any]:
        start.wait()
        return [b.record_receipt(receipt(f"x{i}")) for i in reversed(range(n))]

    with ThreadPoolExecutor(2) as pool:
        done_a, futures = pool.submit(resps), pool.submit(receipts_on_b)
        done_a.result(60)
        for future in futures.result(60):
            future.result(30)
    b.flush()
    assert a.unmatched_receipts() == 0
    assert a.count_by_state()["delivered"] == n
    with psycopg.connect(a.url) as conn:  # one delivered callback each; "sent" only if first
        delivered = conn.execute(
            "SELECT count(DISTINCT message_id), count(*) FROM webhook_outbox"
            " WHERE id LIKE '%:delivered'"
        ).fetchone()
    assert delivered == (n, n)
    assert n <= a.outbox_depth() <= 2 * n


def test_outbox_rows_are_claimed_by_one_daemon(open_pg: Callable[..., PostgresStore]) -> None:
    clock, events = Clock(), []
    a = open_pg(hooks=callback_hooks(), clock=clock)
    b = open_pg(clock=clock, on_event=lambda name, n: events.append((name, n)))
    a.accept([msg(f"m{i}") for i in range(100)])
    a.claim(100)
    for i in range(100):
        a.finish(f"m{i}", State.SENT, at=clock.now)
    a.flush()
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda s: s.claim_outbox(10, 60.0), [a, b] * 10))
    ids = [item.row.id for batch in batches for item in batch]
    assert len(ids) == len(set(ids)) == 100
    assert a.claim_outbox(10, 60.0) == [] and b.claim_outbox(10, 60.0) == []
    clock.now += 61.0  # every lease passed: the work is claimable again, and counted
    assert len(b.claim_outbox(100, 60.0)) == 100
    assert ("lease_expired_webhook", 100) in events


def test_inbound_parts_on_two_daemons_make_one_message(
    open_pg: Callable[..., PostgresStore],
) -> None:
    a, b = open_pg(hooks=callback_hooks()), open_pg(hooks=callback_hooks())
    for round_ in range(20):
        parts = [InboundPart(1.0, "4179", "4100", "GSM", f"p{n}", round_, 2, n) for n in (1, 2)]
        with ThreadPoolExecutor(2) as pool:
            for future in [
                pool.submit(s.record_inbound, p) for s, p in zip((a, b), parts, strict=True)
            ]:
                future.result(10).result(10)
    with psycopg.connect(a.url) as conn:
        rows = conn.execute("SELECT complete, count(*) FROM inbound_messages GROUP BY 1").fetchall()
    assert rows == [(1, 20)]


def test_one_idempotency_key_on_two_daemons_sends_once(
    open_pg: Callable[..., PostgresStore],
) -> None:
    a, b = open_pg(), open_pg()
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda p: p[0].accept_idempotent([msg(p[1])], record()), [(a, "m1"), (b, "m2")]
            )
        )
    assert answers.count(None) == 1
    assert a.count_by_state()["accepted"] == 1


def test_retention_purges_old_finished_rows_in_batches(store: PostgresStore) -> None:
    store.accept([msg(f"old{i}", 100.0) for i in range(5)] + [msg("new", 10_000.0), msg("q", 50.0)])
    store.claim(10)
    for i in range(5):
        store.finish(f"old{i}", State.FAILED, at=200.0)
    store.finish("new", State.FAILED, at=10_001.0)
    store.flush()
    assert store.purge(before=5000.0, limit=3).messages == 3
    assert store.purge(before=5000.0, limit=3).messages == 2
    assert store.purge(before=5000.0, limit=3).messages == 0
    assert store.get_message("old0") is None and store.get_message("new") is not None
    assert store.get_message("q") is not None  # still submitting: never purged


# -- migrations ------------------------------------------------------------------------------


def test_two_daemons_migrating_at_once_apply_each_file_once(url: str) -> None:
    assert missing(url) == [m.version for m in discover()]
    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(lambda _: migrate(url), range(4)))
    assert sorted(v for run in applied for v in run) == [m.version for m in discover()]
    assert missing(url) == []


def test_no_migrate_on_start_refuses_an_old_schema(url: str) -> None:
    with pytest.raises(StoreError, match="smpp-gateway migrate"):
        open_store(StoreSettings(url=url, migrate_on_start=False))
    migrate(url)
    open_store(StoreSettings(url=url, migrate_on_start=False)).close()


def test_new_work_notifies_other_daemons(open_pg: Callable[..., PostgresStore]) -> None:
    a, b = open_pg(), open_pg()
    woke = threading.Event()
    b.on_new_work(woke.set)
    deadline = time.monotonic() + 10
    while not woke.is_set() and time.monotonic() < deadline:  # LISTEN may start late
        a.accept([msg(f"n{time.monotonic_ns()}")])
        woke.wait(0.2)
    assert woke.is_set()


def test_the_writer_reconnects_after_the_server_drops_it(store: PostgresStore) -> None:
    store.accept([msg("before")])
    with psycopg.connect(store.url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1
    with pytest.raises(StoreError):  # the batch that meets the dead connection fails
        store.accept([msg("lost")])
    store.accept([msg("after")])  # the next one runs on a new connection
    assert store.writable()
    assert store.get_message("after") is not None


def test_results_written_into_a_dropped_connection_are_retried_not_lost(
    store: PostgresStore,
) -> None:
    """Issue 11: the asynchronous writes after the SMSC answered used to be logged and
    lost when their batch failed; the writer keeps them and they land on a new
    connection."""
    store.accept([msg("m")])
    store.claim(1)
    with psycopg.connect(store.url, autocommit=True) as admin:
        admin.execute(  # waits (up to 5 s) until each backend has exited
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    store.record_results([SegmentResult("m", 0, 0, "smsc-m", 1001.0)])
    store.finish("m", State.SENT, at=1002.0)
    wait_for(lambda: store.write_failures() >= 1, timeout=10, what="the dead connection met")
    wait_for(lambda: store.writable() and store.unrecorded() == 0, timeout=10, what="recorded")
    view = store.get_message("m")
    assert view is not None
    assert (view.state, view.smsc_message_ids) == (State.SENT, ("smsc-m",))


def test_receipts_of_both_parts_on_two_daemons_decide_the_message(
    open_pg: Callable[..., PostgresStore],
) -> None:
    a, b = open_pg(), open_pg()
    a.accept([msg("long", parts=2)])
    a.claim(1)
    a.record_results(
        [SegmentResult("long", 0, 0, "p0", 1500.0), SegmentResult("long", 1, 0, "p1", 1500.0)]
    )
    a.finish("long", State.SENT, at=1500.0)
    a.flush()
    assert a.record_receipt(receipt("p0")).result(5) is True
    view = a.get_message("long")
    assert view is not None and view.state is State.SENT  # one part is not the message
    assert b.record_receipt(receipt("p1")).result(5) is True
    view = a.get_message("long")
    assert view is not None and view.state is State.DELIVERED


def test_the_exact_id_wins_over_another_reading(store: PostgresStore) -> None:
    """ "10" read as hex is 16: with segments "10" and "16" both known, a receipt "10"
    belongs to "10" (as on SQLite), and "16" to "16"."""
    store.accept([msg("ten", 1.0), msg("sixteen", 2.0)])
    store.claim(2)
    store.record_results(
        [SegmentResult("ten", 0, 0, "10", 1500.0), SegmentResult("sixteen", 0, 0, "16", 1600.0)]
    )
    store.flush()
    assert store.record_receipt(receipt("10", State.UNDELIVERED)).result(5) is True
    assert store.record_receipt(receipt("16")).result(5) is True
    ten, sixteen = store.get_message("ten"), store.get_message("sixteen")
    assert ten is not None and ten.state is State.UNDELIVERED
    assert sixteen is not None and sixteen.state is State.DELIVERED


def test_release_gives_back_only_this_daemons_claims(open_pg: Callable[..., PostgresStore]) -> None:
    clock = Clock()
    a, b = open_pg(clock=clock, claim_lease=30.0), open_pg(clock=clock, claim_lease=30.0)
    a.accept([msg("x", 1.0), msg("y", 2.0)])
    a.claim(2)
    clock.now += 31.0  # A stalled past its lease; B takes both over
    assert len(b.claim(10)) == 2
    a.release(["x", "y"])  # A wakes up and stops: nothing of B's goes back
    assert a.count_by_state()["submitting"] == 2
    b.release(["x"])
    assert a.count_by_state()["accepted"] == 1
    view = a.get_message("x")
    assert view is not None and view.history[-1][1:] == ("accepted", "released")


def test_a_token_bucket_holds_across_daemons(open_pg: Callable[..., PostgresStore]) -> None:
    """Eight threads on two daemons take from one bucket of 5 at once: 5 tokens, no more
    (the bucket's advisory lock serialises the read-modify-write)."""
    a, b = open_pg(), open_pg()
    barrier = threading.Barrier(8)

    def take(store: PostgresStore) -> float:
        barrier.wait(10)
        return store.take_token("conversion:k", 0.001, 5)

    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(take, [a, b] * 4))
    assert waits.count(0.0) == 5


def test_token_batches_hold_across_daemons(open_pg: Callable[..., PostgresStore]) -> None:
    """smpp.max_rate's batches: eight takers of 3 on two daemons share a bucket of 10."""
    a, b = open_pg(), open_pg()
    barrier = threading.Barrier(8)

    def take(store: PostgresStore) -> int:
        barrier.wait(10)
        return store.take_tokens("smpp:submit", 0.001, 10, 3)[0]

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(take, [a, b] * 4))
    assert sum(taken) == 10 and max(taken) == 3


def test_a_claim_that_commits_after_the_engine_gave_up_is_given_back(
    open_pg: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It committed after the engine stopped waiting: nobody would send those messages,
    and the daemon's own renewals would keep their lease alive until its next start."""
    from gateway.store import base
    from gateway.store.postgres import store as pg_store

    running, go_on = threading.Event(), threading.Event()
    real = pg_store.pg.claim

    def slow_claim(*args: Any, **kwargs: Any) -> Any:
        running.set()
        go_on.wait(10)
        return real(*args, **kwargs)

    store = open_pg()
    store.accept([msg("late")])
    monkeypatch.setattr(base, "CLAIM_TIMEOUT", 0.2)
    monkeypatch.setattr(pg_store.pg, "claim", slow_claim)
    try:
        with pytest.raises(StoreError, match="may still commit"):
            store.claim(5)
        assert running.is_set()
    finally:
        go_on.set()
    store.flush()
    monkeypatch.setattr(pg_store.pg, "claim", real)
    assert [m.id for m in store.claim(5)] == ["late"]


def test_0009_compacts_a_store_of_delivered_messages_in_place(url: str, tmp_path: Any) -> None:
    from gateway.store.migrate import POSTGRES, apply_migrations
    from gateway.testing import legacy_store
    from tests.unit.test_store_migrations import check_compacted

    old = legacy_store.migrations_up_to(legacy_store.LAST_BEFORE_COMPACT, tmp_path / "old")
    with psycopg.connect(url) as conn:
        apply_migrations(conn, old, dialect=POSTGRES)
        legacy_store.fill(conn.cursor(), 25, mark="%s")
        conn.commit()
    assert 9 in migrate(url)
    with psycopg.connect(url) as conn:
        check_compacted(conn.cursor(), 25)
        assert conn.execute("SELECT to_regclass('message_events')").fetchone() == (None,)
    store = open_store(url)
    try:
        view = store.get_message(legacy_store.message_id(3))
        assert view is not None and view.state is State.DELIVERED and len(view.history) == 4
        assert store.unmatched_receipts() == 3 and store.outbox_depth() == 3
    finally:
        store.close()
