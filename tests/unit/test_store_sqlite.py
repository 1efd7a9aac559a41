"""The SQLite store and its writer, on real database files in tmp_path.

Synchronisation is by events and flush(), never by sleeping.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import receipts
from gateway.config import WebhooksSettings
from gateway.model import NewMessage, ReceiptRecord, Segment, SegmentResult, State, SubmitParams
from gateway.store import Effects, StoreError, open_store
from gateway.store.migrate import (
    MigrationError,
    applied_versions,
    apply_migrations,
    postgres_types,
    split_sqlite,
)
from gateway.store.sqlite.store import SQLiteStore
from gateway.store.writer import Writer
from gateway.testing.waiting import wait_for
from gateway.webhooks.callbacks import CallbackHooks

ROOT = Path(__file__).resolve().parents[2]
PARAMS = SubmitParams("Gateway", 5, 0, "41791234567", 1, 1, 0, 0x40)


def msg(mid: str, created_at: float = 1000.0, parts: int = 1, **kw: Any) -> NewMessage:
    segments = tuple(Segment(i, f"{mid}:{i}".encode()) for i in range(parts))
    return NewMessage(
        id=mid,
        created_at=created_at,
        api_key_id="key1",
        receiver="41791234567",
        receiver_as_given="+41 79 123 45 67",
        text="hello",
        text_length=5,
        submit=PARAMS,
        segments=segments,
        expires_at=created_at + 3600,
        **kw,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "var" / "gateway.db")


@pytest.fixture
def store(db: str) -> Iterator[SQLiteStore]:
    s = open_store(db)
    yield s  # type: ignore[misc]
    s.close()


class Gate:
    """An operation that holds the writer until opened, so the next ops queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: Any) -> None:
        self.entered.set()
        assert self.release.wait(5)

    def hold(self, writer: Writer) -> None:
        writer.submit(self, label="gate", wait=False, timeout=1)
        assert self.entered.wait(5)


# -- the message life ----------------------------------------------------------------------


def test_accept_then_get_message(store: SQLiteStore) -> None:
    store.accept([msg("a", parts=2, reference="ref-1")])
    view = store.get_message("a")
    assert view is not None
    assert (view.state, view.receiver, view.segment_count, view.reference) == (
        State.ACCEPTED,
        "41791234567",
        2,
        "ref-1",
    )
    assert view.smsc_message_ids == (None, None)
    assert [h[1:] for h in view.history] == [("accepted", None)]
    assert store.get_message("missing") is None
    assert store.pending_count() == 1
    assert store.count_by_state()["accepted"] == 1


def test_accept_is_durable_without_close(db: str) -> None:
    """A process that dies right after accept() returns still has the message."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store_sqlite import msg
        from gateway.store import open_store
        open_store({db!r}).accept([msg("crash-1"), msg("crash-2")])
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    reopened = open_store(db)
    try:
        assert reopened.get_message("crash-1") is not None
        assert reopened.get_message("crash-2") is not None
    finally:
        reopened.close()


def test_claim_oldest_first_within_limit(store: SQLiteStore) -> None:
    store.accept([msg("new", 3000.0), msg("old", 1000.0)])
    store.accept([msg("mid", 2000.0, parts=2)])
    first = store.claim(2)
    assert [m.id for m in first] == ["old", "mid"]
    assert first[1].segments == (Segment(0, b"mid:0"), Segment(1, b"mid:1"))
    assert first[1].submit == PARAMS and first[1].attempts == 1 and first[1].segment_count == 2
    assert [m.id for m in store.claim(10)] == ["new"]
    assert store.claim(10) == []
    assert store.count_by_state()["submitting"] == 3
    assert store.pending_count() == 3


def test_claim_returns_only_unsent_segments(store: SQLiteStore) -> None:
    store.accept([msg("long", parts=3)])
    store.claim(1)
    store.record_results(
        [
            SegmentResult("long", 0, 0, "smsc-0", 1001.0),
            SegmentResult("long", 1, 0x58, None, 1001.0),  # throttled: not sent
        ]
    )
    store.release(["long"])
    (again,) = store.claim(1)
    assert [s.seq for s in again.segments] == [1, 2]
    assert again.attempts == 2
    view = store.get_message("long")
    assert view is not None and view.smsc_message_ids == ("smsc-0", None, None)


def test_a_sent_segment_is_not_overwritten(store: SQLiteStore) -> None:
    store.accept([msg("m")])
    store.record_results([SegmentResult("m", 0, 0, "first", 1.0)])
    store.record_results([SegmentResult("m", 0, 0x14, None, 2.0)])
    store.flush()
    view = store.get_message("m")
    assert view is not None and view.smsc_message_ids == ("first",)


def test_finish_sets_state_and_history(store: SQLiteStore) -> None:
    store.accept([msg("ok"), msg("bad")])
    store.claim(2)
    store.finish("ok", State.SENT, at=2000.0)
    store.finish(
        "bad", State.FAILED, error="SMSC refused: ESME_RINVDSTADR", smpp_status=0x0B, at=2001.0
    )
    store.flush()
    ok, bad = store.get_message("ok"), store.get_message("bad")
    assert ok is not None and bad is not None
    assert ok.state is State.SENT
    assert [h[1] for h in ok.history] == ["accepted", "submitting", "sent"]
    assert ok.history[-1][0] == 2000.0
    assert (bad.state, bad.error, bad.smpp_status) == (
        State.FAILED,
        "SMSC refused: ESME_RINVDSTADR",
        0x0B,
    )
    assert bad.history[-1] == (2001.0, "failed", "SMSC refused: ESME_RINVDSTADR")
    assert store.pending_count() == 0


def test_requeue_claimed_after_a_crash(db: str) -> None:
    first = open_store(db)
    first.accept([msg("a", 1.0), msg("b", 2.0), msg("c", 3.0)])
    assert [m.id for m in first.claim(2)] == ["a", "b"]
    first.close()  # no finish(): as if the daemon died with a and b in flight
    second = open_store(db)
    try:
        assert second.requeue_claimed() == 2
        assert second.requeue_claimed() == 0
        claimed = second.claim(10)
        assert [(m.id, m.attempts) for m in claimed] == [("a", 2), ("b", 2), ("c", 1)]
        view = second.get_message("a")
        assert view is not None
        assert [h[1:] for h in view.history] == [
            ("accepted", None),
            ("submitting", "attempt 1"),
            ("accepted", "requeued"),
            ("submitting", "attempt 2"),
        ]
    finally:
        second.close()


def test_release_only_moves_submitting(store: SQLiteStore) -> None:
    store.accept([msg("a"), msg("b")])
    store.claim(2)
    store.finish("b", State.SENT, at=5.0)
    store.release(["a", "b", "unknown"])
    assert store.count_by_state()["accepted"] == 1
    assert store.count_by_state()["sent"] == 1


# -- grouping and failures -------------------------------------------------------------------


def test_concurrent_accepts_are_grouped(db: str) -> None:
    commits: list[int] = []
    store = open_store(db, on_commit=lambda ops, _s: commits.append(ops))
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(200):
                store.accept([msg(f"t{t}-{i}")])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert not errors
        assert store.count_by_state()["accepted"] == 3200
        assert sum(commits) == 3200
        assert len(commits) < 3200
    finally:
        store.close()


def test_one_bulk_call_is_one_transaction(store: SQLiteStore) -> None:
    store.accept([msg("dup")])
    with pytest.raises(StoreError, match="UNIQUE"):
        store.accept([msg("fresh"), msg("dup")])
    assert store.get_message("fresh") is None  # all or nothing


def _writer(tmp_path: Path, **kw: Any) -> Writer:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER UNIQUE)")
    writer = Writer(lambda: sqlite3.connect(path, isolation_level=None), **kw)
    writer.start()
    return writer


def test_a_failing_op_fails_only_its_own_future(tmp_path: Path) -> None:
    commits: list[int] = []
    writer = _writer(tmp_path, on_commit=lambda ops, _s: commits.append(ops))
    calls = {"good1": 0}

    def good1(conn: Any) -> str:
        calls["good1"] += 1
        conn.execute("INSERT INTO t VALUES (1)")
        return "one"

    def bad(conn: Any) -> None:
        raise ValueError("broken op")

    gate = Gate()
    gate.hold(writer)
    futures = [
        writer.submit(op, label=name, wait=True, timeout=1)
        for name, op in (
            ("good1", good1),
            ("bad", bad),
            ("good2", lambda c: c.execute("INSERT INTO t VALUES (2)")),
        )
    ]
    gate.release.set()
    f1, fbad, f2 = futures
    assert f1 is not None and fbad is not None and f2 is not None
    assert f1.result(5) == "one"
    assert isinstance(fbad.exception(5), ValueError)
    f2.result(5)
    assert calls["good1"] == 2  # ran in the batch, rolled back, ran again alone
    with pytest.raises(StoreError, match="UNIQUE"):  # call() turns any failure into StoreError
        writer.call(good1, label="again", timeout=5)
    writer.stop()
    assert commits == [1, 1, 1]  # the gate, then good1 and good2 alone
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT x FROM t")) == [1, 2]


def test_queued_ops_commit_together(tmp_path: Path) -> None:
    commits: list[int] = []
    writer = _writer(tmp_path, on_commit=lambda ops, _s: commits.append(ops))
    gate = Gate()
    gate.hold(writer)
    for i in range(5):
        writer.submit(
            lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)),
            label="i",
            wait=False,
            timeout=1,
        )
    last = writer.submit(lambda c: "done", label="last", wait=True, timeout=1)
    gate.release.set()
    assert last is not None and last.result(5) == "done"
    writer.stop()
    assert commits == [1, 6]  # the gate alone; then the five inserts and `last` together


class FlakyConnection:
    """A DB-API connection whose commits fail while `fail` is set (a full disk)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.fail = conn, False

    def cursor(self) -> sqlite3.Cursor:
        return self.conn.cursor()

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self.conn.execute(*args)

    def commit(self) -> None:
        if self.fail:
            raise sqlite3.OperationalError("database or disk is full")
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def test_failed_commit_fails_the_batch_and_marks_unhealthy(tmp_path: Path, caplog) -> None:
    """The synchronous write fails; the asynchronous one is kept and lands after the disk
    recovers (issue 11: it used to be logged and lost). More in test_store_faults.py."""
    path = tmp_path / "f.db"
    flaky = FlakyConnection(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
    flaky.conn.execute("CREATE TABLE t (x INTEGER)")
    writer = Writer(lambda: flaky)
    writer.start()
    assert writer.healthy
    flaky.fail = True
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        writer.submit(
            lambda c: c.execute("INSERT INTO t VALUES (1)"),
            label="kept-async",
            wait=False,
            timeout=1,
        )
        with pytest.raises(StoreError, match="disk is full"):
            writer.call(lambda c: c.execute("INSERT INTO t VALUES (2)"), label="w", timeout=5)
    assert not writer.healthy
    assert "disk is full" in caplog.text
    assert writer.unrecorded == 1
    flaky.fail = False
    wait_for(lambda: writer.healthy and writer.unrecorded == 0, timeout=5, what="recovery")
    writer.call(lambda c: c.execute("INSERT INTO t VALUES (3)"), label="w", timeout=5)
    writer.stop()
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1, 3]


def test_accept_timeout_before_the_writer_reaches_it(store: SQLiteStore) -> None:
    gate = Gate()
    gate.hold(store._writer)
    with pytest.raises(StoreError, match="not written"):
        store.accept([msg("late")], timeout=0.05)
    gate.release.set()
    store.flush()
    assert store.get_message("late") is None  # cancelled, so certainly absent


def test_failed_async_write_is_logged(store: SQLiteStore, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        store.finish("nobody", State.SENT, at=1.0)
        store.flush()
    assert "finish nobody" in caplog.text and "no message nobody" in caplog.text


# -- lifecycle -----------------------------------------------------------------------------


def test_writable_until_the_writer_stops(db: str) -> None:
    store = open_store(db)
    assert store.writable()
    assert any(t.name == "store-writer" for t in threading.enumerate())
    store._writer.stop()  # the writer thread dies under a running store
    assert not store.writable()
    store.close()
    assert not store.writable()


def test_closed_store_refuses_work(db: str) -> None:
    store = open_store(db)
    store.accept([msg("a")])
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.accept([msg("b")])
    with pytest.raises(StoreError):
        store.finish("a", State.SENT, at=1.0)
    with pytest.raises(StoreError):
        store.get_message("a")
    with pytest.raises(StoreError):
        store.flush()


def test_migrations_are_recorded_once(db: str) -> None:
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT version, name, applied_at FROM schema_version").fetchall()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [row[:2] for row in first][:2] == [(1, "initial"), (2, "receipts_outbox")]
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        assert (
            conn.execute("SELECT version, name, applied_at FROM schema_version").fetchall() == first
        )


def test_migration_runner_order_and_rollback(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0002_more.sql").write_text("CREATE TABLE b (x TEXT); -- a; comment\n")
    (migrations / "0001_first.sql").write_text("-- first\nCREATE TABLE a (x TEXT DEFAULT ';');\n")
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert apply_migrations(conn, migrations) == [1, 2]
    assert apply_migrations(conn, migrations) == []
    (migrations / "0003_broken.sql").write_text("CREATE TABLE c (x TEXT);\nNOT SQL;\n")
    with pytest.raises(MigrationError, match="0003_broken"):
        apply_migrations(conn, migrations)
    assert applied_versions(conn) == [1, 2]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "c" not in tables and {"a", "b"} <= tables  # the failed file left nothing behind
    conn.close()


def test_sql_helpers() -> None:
    assert split_sqlite("-- c\nSELECT ';';\nSELECT 2;\n-- end\n") == [
        "-- c\nSELECT ';';",
        "SELECT 2;",
    ]
    with pytest.raises(MigrationError):
        split_sqlite("SELECT 1")
    pg = postgres_types("id INTEGER PRIMARY KEY AUTOINCREMENT, p BLOB, at REAL, n INTEGER")
    assert pg == (
        "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, p BYTEA, at DOUBLE PRECISION,"
        " n INTEGER"
    )


def receipt(smsc_id: str, state: State, at: float) -> ReceiptRecord:
    keys = receipts.normalize_id(smsc_id)
    return ReceiptRecord(at, "s1", smsc_id, tuple(keys), "X", state, None, None)


def test_receipts_kept_before_their_resps_match_when_a_batch_of_resps_comes(
    store: SQLiteStore,
) -> None:
    """One query matches the whole batch; each receipt goes to the segment it names
    (also by its hex reading), and a two-part message is decided by both receipts."""
    store.accept([msg("a"), msg("b", parts=2), msg("c")])
    store.claim(3)
    for smsc_id, state, at in [("ff", State.DELIVERED, 5.0), ("256", State.DELIVERED, 6.0)]:
        assert store.record_receipt(receipt(smsc_id, state, at)).result(5) is not None
    store.record_receipt(receipt("0777", State.UNDELIVERED, 7.0)).result(5)
    store.record_results(
        [
            SegmentResult("a", 0, 0, "255", 1.0),  # decimal 255 is the receipt's hex ff
            SegmentResult("b", 0, 0, "256", 1.0),
            SegmentResult("b", 1, 0, "777", 1.0),
            SegmentResult("c", 0, 0, "999", 1.0),  # no receipt yet
        ]
    )
    store.flush()
    states = {m: store.get_message(m).state for m in "abc"}  # type: ignore[union-attr]
    assert states == {"a": State.DELIVERED, "b": State.UNDELIVERED, "c": State.SUBMITTING}


def test_a_new_file_another_process_is_switching_to_wal_is_opened_on_a_second_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon's processes open its store together at the first start: when two switch a
    new file to WAL at once, SQLite tells one "locked" at once, without waiting (seen 1 in
    40 with 5 processes; it took a daemon down as a worker that failed to boot). The
    store asks again; any other error still fails at once."""
    real = SQLiteStore._prepare_file
    calls: list[int] = []

    def locked_once(self: SQLiteStore) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        real(self)

    monkeypatch.setattr(SQLiteStore, "_prepare_file", locked_once)
    store = open_store(str(tmp_path / "new.db"))
    store.close()
    assert len(calls) == 2

    def broken(self: SQLiteStore) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SQLiteStore, "_prepare_file", broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        open_store(str(tmp_path / "other.db"))


def test_a_batch_retried_one_by_one_reports_each_commits_effects_once(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: effects (metrics, webhooks queued) are reported after the commit, so when
    one op fails its group and the rest are retried one by one, the rolled-back group
    attempt reports nothing and each committed change is counted once."""
    seen: list[Effects] = []
    hooks = CallbackHooks(WebhooksSettings(default_callback_url="http://cb.example/status"))
    store = open_store(db, hooks=hooks, on_effects=seen.append)
    try:
        store.accept([msg("a"), msg("b")])
        store.claim(2)
        seen.clear()
        gate = Gate()
        gate.hold(store._writer)
        store.finish("a", State.SENT, at=2.0)  # runs in the failed group attempt, then alone
        store.finish("nobody", State.SENT, at=2.0)  # fails by itself: no such message
        store.finish("b", State.SENT, at=2.0)
        with caplog.at_level(logging.WARNING, logger="gateway.store"):
            gate.release.set()
            store.flush()
        assert "retrying one by one" in caplog.text  # the three were one group
        assert [c.message_id for e in seen for c in e.changes] == ["a", "b"]
        assert sum(e.webhooks for e in seen) == 2
        assert store.outbox_depth() == 2
    finally:
        store.close()


def test_a_claim_that_commits_after_the_engine_gave_up_is_given_back(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine a claim took longer than the engine waits; it committed later,
    and its messages stayed `submitting` with nobody to send them (until the next start)."""
    from gateway.store import base
    from gateway.store.sqlite import store as sqlite_store

    running, go_on = threading.Event(), threading.Event()
    real = sqlite_store.ops.claim

    def slow_claim(*args: Any, **kwargs: Any) -> Any:
        running.set()
        go_on.wait(10)
        return real(*args, **kwargs)

    store = open_store(db)
    try:
        store.accept([msg("late")])
        monkeypatch.setattr(base, "CLAIM_TIMEOUT", 0.2)
        monkeypatch.setattr(sqlite_store.ops, "claim", slow_claim)
        with pytest.raises(StoreError, match="may still commit"):
            store.claim(5)
        assert running.is_set()
        go_on.set()
        store.flush()
        monkeypatch.setattr(sqlite_store.ops, "claim", real)
        assert [m.id for m in store.claim(5)] == ["late"]  # accepted again, claimable
        view = store.get_message("late")
        assert view is not None and "late claim given back" in [h[2] for h in view.history]
    finally:
        go_on.set()
        store.close()
