"""A store that cannot write (issue 11, item 7): health, retries, order, stop.

The failing disk is injected: a real SQLite connection whose writes or commits raise
the SQLITE_FULL error SQLite raises on a full disk, until the test frees it. The real
thing (a full tmpfs under the real daemon) is tests/integration/test_disk_full.py.
Retry delays are short here, so every test takes well under a second or two; waits are
conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.config import Config, SmppSettings
from gateway.engine import Engine, PendingWrites, Ticket
from gateway.model import State
from gateway.store import QUEUE_SIZE, StoreError, StoreSettings
from gateway.store.postgres.conn import is_store_failure as pg_store_failure
from gateway.store.sql import messages as ops
from gateway.store.sqlite.store import SQLiteStore
from gateway.store.sqlite.store import is_store_failure as sqlite_store_failure
from gateway.store.writer import Writer
from gateway.testing.waiting import wait_for
from tests.unit.test_store_sqlite import msg

_READ_ONLY = ("SELECT", "BEGIN", "ROLLBACK")


def disk_full() -> sqlite3.OperationalError:
    """The error SQLite raises on a full disk (code and name as the module sets them)."""
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    exc.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    return exc


class DiskFullConnection:
    """A real sqlite3 connection that fails like a full disk while `full` is set.

    `fail_at="commit"`: statements run, COMMIT fails (SQLite's usual place: WAL frames
    are written at commit). `fail_at="write"`: every writing statement fails, while
    reads and empty transactions still commit, as they do on a full disk."""

    def __init__(self, conn: sqlite3.Connection, fail_at: str = "commit") -> None:
        self.conn, self.fail_at, self.full = conn, fail_at, False

    def _check(self, sql: str) -> None:
        writes = not sql.lstrip().upper().startswith(_READ_ONLY)
        if self.full and self.fail_at == "write" and writes:
            raise disk_full()

    def cursor(self) -> DiskFullConnection:  # the writer's BEGIN goes through here
        return self

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        self._check(sql)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self.conn.executemany(sql, rows)

    def commit(self) -> None:
        if self.full and self.fail_at == "commit":
            raise disk_full()
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def disk() -> dict[str, DiskFullConnection]:
    """Filled in by the writer's connect (it runs on the writer thread)."""
    return {}


def make_writer(
    tmp_path: Path, disk: dict[str, DiskFullConnection], fail_at: str, full: bool = False
) -> Writer:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (n INTEGER PRIMARY KEY AUTOINCREMENT, x INTEGER)")
    setup.close()

    def connect() -> DiskFullConnection:
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        disk["conn"] = DiskFullConnection(raw, fail_at)
        disk["conn"].full = full
        return disk["conn"]

    writer = Writer(
        connect,
        probe=ops.probe,
        is_store_failure=sqlite_store_failure,
        retry_min_delay=0.01,
        retry_max_delay=0.05,
    )
    writer.start()
    return writer


def insert(x: int) -> Callable[[Any], Any]:
    return lambda conn: conn.execute("INSERT INTO t (x) VALUES (?)", (x,))


def rows(tmp_path: Path) -> list[int]:
    with sqlite3.connect(tmp_path / "w.db") as conn:
        found = [r[0] for r in conn.execute("SELECT x FROM t ORDER BY n")]
    conn.close()
    return found


def recovered(writer: Writer) -> bool:
    return writer.healthy and writer.unrecorded == 0


# -- the writer ----------------------------------------------------------------------------


@pytest.mark.parametrize("fail_at", ["commit", "write"])
def test_async_writes_the_disk_refused_land_once_it_has_room(
    tmp_path: Path, disk: dict[str, DiskFullConnection], fail_at: str, caplog
) -> None:
    writer = make_writer(tmp_path, disk, fail_at)
    disk["conn"].full = True
    with caplog.at_level(logging.WARNING, logger="gateway.store"):
        writer.submit(insert(1), label="record_results m1/0", wait=False, timeout=1)
        with pytest.raises(StoreError, match="disk is full"):
            writer.call(insert(2), label="accept m2", timeout=5)
        writer.submit(insert(3), label="finish m1 sent", wait=False, timeout=1)
        assert not writer.healthy  # a failed write, not only a failed BEGIN
        wait_for(lambda: writer.unrecorded == 2, timeout=5, what="both async writes kept")
        failures = writer.failures
        wait_for(lambda: writer.failures >= failures + 3, timeout=5, what="retries, no traffic")
        assert rows(tmp_path) == []
        disk["conn"].full = False
        wait_for(lambda: recovered(writer), timeout=5, what="healthy again without traffic")
    assert rows(tmp_path) == [1, 3]  # in order; the refused synchronous one is not retried
    assert caplog.text.count("refusing writes") == 1  # one error line per outage
    assert "writable again" in caplog.text
    assert "one by one" not in caplog.text  # a store failure is not blamed on an op
    writer.stop()


def test_only_a_committed_probe_makes_the_writer_healthy(
    tmp_path: Path, disk: dict[str, DiskFullConnection]
) -> None:
    """Empty and read-only transactions commit on a full disk: they prove nothing."""
    writer = make_writer(tmp_path, disk, "write")
    writer.call(lambda c: c.execute("SELECT 1"), label="read", timeout=5)
    disk["conn"].full = True
    with pytest.raises(StoreError):
        writer.call(insert(1), label="accept", timeout=5)
    failures = writer.failures
    for _ in range(3):  # transactions that write nothing still commit, and are refused
        with pytest.raises(StoreError, match="disk is full"):
            writer.call(lambda c: c.execute("SELECT 1"), label="read", timeout=5)
        with pytest.raises(StoreError):
            writer.flush(timeout=5)
    wait_for(lambda: writer.failures >= failures + 3, timeout=5, what="probes failing")
    assert not writer.healthy
    disk["conn"].full = False
    wait_for(lambda: writer.healthy, timeout=5, what="a probe committed")
    writer.call(insert(2), label="accept", timeout=5)
    writer.stop()
    assert rows(tmp_path) == [2]


@pytest.mark.parametrize("fail_at", ["commit", "write"])
def test_a_writer_started_on_a_full_disk_starts_unhealthy_and_recovers(
    tmp_path: Path, disk: dict[str, DiskFullConnection], fail_at: str
) -> None:
    writer = make_writer(tmp_path, disk, fail_at, full=True)  # starting is not an error
    assert writer.alive and not writer.healthy
    with pytest.raises(StoreError, match="disk is full"):
        writer.call(insert(1), label="accept", timeout=5)
    disk["conn"].full = False
    wait_for(lambda: writer.healthy, timeout=5, what="healthy without traffic")
    writer.call(insert(2), label="accept", timeout=5)
    writer.stop()
    assert rows(tmp_path) == [2]


def test_new_async_writes_wait_behind_the_backlog(
    tmp_path: Path, disk: dict[str, DiskFullConnection]
) -> None:
    writer = make_writer(tmp_path, disk, "commit")
    disk["conn"].full = True
    for x in range(1, 4):
        writer.submit(insert(x), label=f"w{x}", wait=False, timeout=1)
    wait_for(lambda: writer.unrecorded == 3, timeout=5, what="three writes kept")
    writer.submit(insert(4), label="w4", wait=False, timeout=1)  # not tried: queued behind
    wait_for(lambda: writer.unrecorded == 4, timeout=5, what="the fourth kept")
    disk["conn"].full = False
    writer.submit(insert(5), label="w5", wait=False, timeout=1)  # may reach it first
    wait_for(lambda: recovered(writer), timeout=5, what="recovered")
    writer.flush(timeout=5)
    assert rows(tmp_path) == [1, 2, 3, 4, 5]
    writer.stop()


def test_an_op_failing_by_itself_is_logged_and_dropped_not_retried(
    tmp_path: Path, disk: dict[str, DiskFullConnection], caplog
) -> None:
    writer = make_writer(tmp_path, disk, "commit")

    def no_such_message(conn: Any) -> None:
        raise LookupError("no message nobody")

    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        writer.submit(no_such_message, label="finish nobody", wait=False, timeout=1)
        writer.flush(timeout=5)
        assert writer.healthy and writer.unrecorded == 0
        # in the backlog, it fails by itself after the disk recovers; the others land
        disk["conn"].full = True
        writer.submit(insert(1), label="w1", wait=False, timeout=1)
        writer.submit(no_such_message, label="finish ghost", wait=False, timeout=1)
        writer.submit(insert(2), label="w2", wait=False, timeout=1)
        wait_for(lambda: writer.unrecorded == 3, timeout=5, what="three writes kept")
        disk["conn"].full = False
        wait_for(lambda: recovered(writer), timeout=5, what="recovered")
    assert rows(tmp_path) == [1, 2]
    assert "finish nobody failed, not recorded" in caplog.text
    assert "finish ghost failed, not recorded" in caplog.text
    writer.stop()


def test_stop_retries_until_its_timeout_then_logs_each_unrecorded_write(
    tmp_path: Path, disk: dict[str, DiskFullConnection], caplog
) -> None:
    writer = make_writer(tmp_path, disk, "commit")
    disk["conn"].full = True
    writer.submit(insert(1), label="record_results m1/0 (1)", wait=False, timeout=1)
    writer.submit(insert(2), label="finish m1 sent", wait=False, timeout=1)
    wait_for(lambda: writer.unrecorded == 2, timeout=5, what="two writes kept")
    failures = writer.failures
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        writer.stop(timeout=0.5)
    assert writer.failures > failures  # it kept trying during the stop
    assert "2 asynchronous writes not recorded" in caplog.text
    assert "not recorded: record_results m1/0 (1)" in caplog.text
    assert "not recorded: finish m1 sent" in caplog.text
    assert rows(tmp_path) == []


def test_stop_records_the_backlog_when_the_disk_recovers_within_the_timeout(
    tmp_path: Path, disk: dict[str, DiskFullConnection], caplog
) -> None:
    writer = make_writer(tmp_path, disk, "commit")
    disk["conn"].full = True
    writer.submit(insert(1), label="finish m1 sent", wait=False, timeout=1)
    wait_for(lambda: writer.unrecorded == 1, timeout=5, what="the write kept")
    stopper = threading.Thread(target=writer.stop, kwargs={"timeout": 10.0})
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        stopper.start()
        wait_for(lambda: not writer.alive, timeout=5, what="stopping")
        failures = writer.failures
        wait_for(lambda: writer.failures > failures, timeout=5, what="a retry during the stop")
        disk["conn"].full = False
        stopper.join(timeout=10)
    assert not stopper.is_alive()
    assert rows(tmp_path) == [1]
    assert "not recorded" not in caplog.text


# -- which errors are the store's ----------------------------------------------------------


def test_sqlite_store_failures_are_told_from_a_statement_s_own_errors(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x PRIMARY KEY, b BLOB)")
    conn.execute("INSERT INTO t VALUES (1, NULL)")
    conn.execute("PRAGMA max_page_count = 3")  # a real SQLITE_FULL, no mount needed
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (2, zeroblob(100000))")
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        conn.execute("INSERT INTO t VALUES (1, NULL)")
    with pytest.raises(sqlite3.OperationalError) as typo:
        conn.execute("SELECT * FROM nope")
    conn.close()
    assert sqlite_store_failure(full.value)
    assert sqlite_store_failure(OSError(28, "No space left on device"))
    assert not sqlite_store_failure(duplicate.value)
    assert not sqlite_store_failure(typo.value)
    assert not sqlite_store_failure(LookupError("no message x"))


def test_postgres_store_failures_are_told_from_a_statement_s_own_errors() -> None:
    errors = psycopg.errors
    for failure in (
        errors.DiskFull(),
        errors.IoError(),
        errors.AdminShutdown(),
        errors.ReadOnlySqlTransaction(),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.InterfaceError("the connection is closed"),
    ):
        assert pg_store_failure(failure), failure
    for own in (
        errors.UniqueViolation(),
        errors.DeadlockDetected(),  # its batch is retried one by one instead
        errors.ProgramLimitExceeded(),
        errors.UntranslatableCharacter(),
        LookupError("no message x"),
    ):
        assert not pg_store_failure(own), own


# -- the SQLite store and the engine ---------------------------------------------------------


class FullDiskStore(SQLiteStore):
    """The real SQLite store, its write connection wrapped in DiskFullConnection."""

    disk: DiskFullConnection

    def _connect_writer(self) -> Any:
        self.disk = DiskFullConnection(super()._connect_writer(), "commit")
        return self.disk


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[FullDiskStore]:
    path = tmp_path / "gateway.db"
    s = FullDiskStore(
        path,
        StoreSettings(path=str(path)),
        synchronous="FULL",
        queue_size=QUEUE_SIZE,
        clock=clock,
        hooks=None,
        on_commit=None,
        on_effects=None,
    ).open()
    yield s
    s.close()


def test_store_not_writable_while_it_cannot_commit_and_writable_after(
    store: FullDiskStore,
) -> None:
    assert store.writable() and store.unrecorded() == 0
    store.disk.full = True
    with pytest.raises(StoreError, match="disk is full"):
        store.accept([msg("a")])
    assert not store.writable()
    store.finish("a", State.FAILED, at=1.0)
    wait_for(lambda: store.unrecorded() == 1, timeout=5, what="finish kept")
    assert store.write_failures() >= 1
    store.disk.full = False
    wait_for(store.writable, timeout=5, what="writable without traffic")
    wait_for(lambda: store.unrecorded() == 0, timeout=5, what="backlog recorded")


class StubPool:
    """Stands in for the SMPP sessions: the test plays the session, calling
    next_submissions and on_submit_response as SmppSession does. Counts the feeder's
    looks at `bound_count`, so a test can tell the feeder ran."""

    def __init__(self) -> None:
        self.bound = False
        self.looks = 0

    def start(self) -> None: ...

    def stop(self, grace: float) -> None: ...

    def bound_count(self, transmitting_only: bool = False) -> int:
        self.looks += 1
        return 1 if self.bound else 0

    def snapshot(self) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def engine(store: FullDiskStore, clock: Clock) -> Iterator[tuple[Engine, StubPool]]:
    pool = StubPool()
    cfg = Config(smpp=SmppSettings(stop_grace=0.0))
    eng = Engine(
        store,
        cfg,
        lambda _e: pool,  # type: ignore[arg-type,return-value]
        clock=clock,
        idle_poll=0.02,
        maintenance_interval=0.02,
    )
    eng.start()
    yield eng, pool
    eng.stop()


def take(engine: Engine, count: int) -> list[Ticket]:
    taken: list[Ticket] = []

    def more() -> bool:
        taken.extend(engine.next_submissions(count - len(taken), 0.05))
        return len(taken) >= count

    wait_for(more, timeout=5, what=f"{count} tickets")
    return taken


def state(store: SQLiteStore, mid: str) -> State:
    view = store.get_message(mid)
    assert view is not None
    return view.state


def test_engine_results_the_store_refused_land_once_it_can_commit(
    engine: tuple[Engine, StubPool], store: FullDiskStore, clock: Clock
) -> None:
    eng, pool = engine
    store.accept([msg("a"), msg("b"), msg("c")])
    pool.bound = True
    eng.notify_new_work()
    tickets = {t.message_id: t for t in take(eng, 3)}
    eng.on_submit_response(tickets["a"], 0, "smsc-a", "s1")
    wait_for(lambda: state(store, "a") == State.SENT, timeout=5, what="a sent")
    pool.bound = False  # so the feeder does not claim d before the disk fills
    store.accept([msg("d", created_at=1500.0)])  # claimed only after the disk is back

    store.disk.full = True
    eng.on_submit_response(tickets["b"], 0, "smsc-b", "s1")  # the SMSC took b and c
    eng.on_submit_response(tickets["c"], 0, "smsc-c", "s1")
    wait_for(lambda: not store.writable(), timeout=5, what="the store failing")
    wait_for(lambda: store.unrecorded() >= 2, timeout=5, what="results kept")
    pool.bound = True
    looks = pool.looks
    eng.notify_new_work()
    wait_for(lambda: pool.looks >= looks + 5, timeout=5, what="the feeder looking")
    assert eng.next_submissions(10, 0.05) == []  # nothing more goes out meanwhile
    assert state(store, "b") == state(store, "c") == State.SUBMITTING
    assert state(store, "d") == State.ACCEPTED  # the feeder did not claim

    clock.now = 2000.0
    store.disk.full = False
    wait_for(lambda: store.writable() and store.unrecorded() == 0, timeout=5, what="recovery")
    for mid in ("b", "c"):  # no restart needed
        view = store.get_message(mid)
        assert view is not None and view.state == State.SENT
        assert view.smsc_message_ids == (f"smsc-{mid}",)
    (ticket,) = take(eng, 1)
    assert ticket.message_id == "d"
    view = store.get_message("d")
    assert view is not None
    claimed_at = [at for at, st, _detail in view.history if st == "submitting"]
    assert claimed_at == [2000.0]  # claimed after the store came back, not during


def test_pending_writes_wait_in_order_and_are_offered_again() -> None:
    refused = {"on": True}
    done: list[str] = []

    def write(name: str) -> Callable[[], None]:
        def run() -> None:
            if refused["on"]:
                raise StoreError("store queue full for 2.0 s")
            done.append(name)

        return run

    pending = PendingWrites()
    pending.write("record_results m/0", write("record"))
    refused["on"] = False
    pending.write("finish m sent", write("finish"))  # behind the refused one, not run
    assert done == [] and pending.labels() == ["record_results m/0", "finish m sent"]
    refused["on"] = True
    pending.retry()
    assert len(pending) == 2
    refused["on"] = False
    pending.retry()
    assert done == ["record", "finish"] and len(pending) == 0
    pending.write("finish n sent", write("next"))  # nothing waits: runs at once
    assert done[-1] == "next"
