"""The store writer's batching policy and health bookkeeping, without thread or database.

The writer thread against real SQLite (group commits, one-by-one retries, a full disk)
is tested in tests/unit/test_store_sqlite.py and test_store_faults.py; these pin down the
two policies it is built from, with a queue and clock values alone.
"""

from __future__ import annotations

import logging
import queue
from concurrent.futures import Future

import pytest

from gateway.store.base import StoreError
from gateway.store.writer_health import REPORT_EVERY, Health
from gateway.store.writer_queue import STOP, Item, WriteQueue


def item(label: str, wait: bool = False) -> Item:
    return Item(lambda _conn: label, label, Future() if wait else None)


def labels(batch: list[Item]) -> list[str]:
    return [entry.label for entry in batch]


def queued(*entries: Item, max_batch: int = 10, max_delay: float = 0.0) -> WriteQueue:
    q = WriteQueue(max_batch=max_batch, max_delay=max_delay, size=100)
    for entry in entries:
        q.put(entry, timeout=1)
    return q


# ---- batching ------------------------------------------------------------------------


def test_a_batch_is_the_first_item_and_what_is_queued_behind_it_up_to_max_batch():
    q = queued(*(item(f"w{i}") for i in range(1, 6)), max_batch=3)
    batch, stop = q.gather(item("w0"))
    assert (labels(batch), stop) == (["w0", "w1", "w2"], False)
    batch, stop = q.gather(q.get(timeout=1))
    assert (labels(batch), stop) == (["w3", "w4", "w5"], False)
    assert q.get(timeout=0) is None  # nothing left


def test_stop_ends_the_batch_and_what_was_queued_before_it_is_in_it():
    q = queued(item("w1"))
    q.put_stop(timeout=1)
    q.put(item("late"), timeout=1)
    batch, stop = q.gather(item("w0"))
    assert (labels(batch), stop) == (["w0", "w1"], True)


def test_an_operation_its_caller_cancelled_is_left_out_and_a_taken_one_runs():
    cancelled, waiting = item("gave up", wait=True), item("waits", wait=True)
    assert cancelled.future is not None and cancelled.future.cancel()
    batch, _stop = queued(cancelled, waiting).gather(item("w0"))
    assert labels(batch) == ["w0", "waits"]
    assert waiting.future is not None and waiting.future.running()


def test_a_lone_caller_never_waits_for_company():
    q = queued(max_delay=30.0)  # a wait would stall this test for 30 s
    batch, _stop = q.gather(item("alone"))
    assert labels(batch) == ["alone"]
    q.committed(1)
    assert labels(q.gather(item("alone again"))[0]) == ["alone again"]


def test_a_batch_smaller_than_the_last_commit_waits_up_to_max_delay_for_more():
    q = queued(max_delay=0.01)
    q.committed(5)  # five callers were active
    batch, stop = q.gather(item("w0"))  # nobody else comes: it gives up after 10 ms
    assert (labels(batch), stop) == (["w0"], False)


def test_grow_takes_what_queued_meanwhile_and_puts_a_stop_back_at_the_end():
    q = queued(item("w2"), max_batch=4)
    q.put_stop(timeout=1)
    q.put(item("after stop"), timeout=1)
    batch = [item("w0"), item("w1")]
    q.grow(batch)
    assert labels(batch) == ["w0", "w1", "w2"]
    assert q.get(timeout=1) is not STOP  # "after stop" is now ahead of the STOP
    assert q.get(timeout=1) is STOP


def test_grow_stops_at_max_batch():
    q = queued(item("w1"), item("w2"), max_batch=2)
    batch = [item("w0")]
    q.grow(batch)
    assert labels(batch) == ["w0", "w1"]


def test_leftovers_skip_the_stop_and_cancelled_operations():
    cancelled = item("gave up", wait=True)
    assert cancelled.future is not None and cancelled.future.cancel()
    q = queued(item("w1"), cancelled)
    q.put_stop(timeout=1)
    q.put(item("w2"), timeout=1)
    assert labels(list(q.leftovers())) == ["w1", "w2"]


def test_a_full_queue_refuses_after_its_timeout():
    q = WriteQueue(max_batch=1, max_delay=0.0, size=1)
    q.put(item("w1"), timeout=0)
    with pytest.raises(queue.Full):
        q.put(item("w2"), timeout=0)


# ---- settling an operation -----------------------------------------------------------


def test_a_waiting_caller_gets_its_value_or_its_error(caplog):
    done, failed = item("done", wait=True), item("failed", wait=True)
    done.resolve(42)
    failed.fail(ValueError("no such message"))
    assert done.future is not None and done.future.result() == 42
    assert failed.future is not None and isinstance(failed.future.exception(), ValueError)
    assert "store operation failed failed: no such message" in caplog.text


def test_an_asynchronous_failure_is_logged_as_not_recorded(caplog):
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        item("finish m1 sent").fail(ValueError("gone"))
    assert "asynchronous store operation finish m1 sent failed, not recorded: gone" in caplog.text


# ---- health --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_retries_back_off_doubling_from_the_minimum_to_the_maximum(clock):
    health = Health(retry_min_delay=0.05, retry_max_delay=0.3, clock=clock)
    delays = []
    for _ in range(5):
        health.failed("commit", OSError("disk full"))
        delays.append(round(health.retry_at - clock.now, 6))
    assert delays == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert health.failures == 5 and not health.healthy
    defaults = Health(clock=clock)  # what docs/durability.md promises
    delays = []
    for _ in range(7):
        defaults.failed("commit", OSError("disk full"))
        delays.append(round(defaults.retry_at - clock.now, 6))
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_retry_is_due_at_its_time_and_the_writer_waits_no_longer(clock):
    health = Health(retry_min_delay=0.5, retry_max_delay=1.0, clock=clock)
    health.healthy = True
    assert health.wait_time(poll=0.25) == 0.25 and not health.failing
    health.failed("write", OSError("disk full"))
    assert health.failing and not health.retry_due()
    clock.now += 0.2
    assert health.wait_time(poll=1.0) == pytest.approx(0.3)
    clock.now += 0.3
    assert health.retry_due() and health.wait_time(poll=1.0) == 0.0


def test_the_error_names_the_step_and_keeps_its_cause(clock):
    health = Health(clock=clock)
    cause = OSError("database or disk is full")
    error = health.failed("commit", cause)
    assert isinstance(error, StoreError)
    assert str(error) == "store commit failed: database or disk is full"
    assert error.__cause__ is cause
    assert str(health.refusal()) == str(error)
    assert str(Health(clock=clock).refusal()) == "the store cannot commit"


def test_unrecorded_writes_keep_it_failing_after_a_probe_committed(clock):
    health = Health(clock=clock)
    health.failed("write", OSError("disk full"))
    health.backlog.append(item("finish m1 sent"))
    health.recovered(0)
    assert health.healthy and health.failing  # older writes first
    health.backlog.clear()
    assert not health.failing


def test_an_outage_is_logged_once_then_every_report_interval_then_its_end(clock, caplog):
    health = Health(clock=clock)
    with caplog.at_level(logging.WARNING, logger="gateway.store"):
        health.failed("commit", OSError("disk full"))
        clock.now += 1.0
        health.failed("commit", OSError("disk full"))  # within the interval: quiet
        clock.now += REPORT_EVERY
        health.backlog.append(item("w1"))
        health.failed("commit", OSError("disk full"))
        clock.now += 5.0
        health.recovered(landed=3)
        health.recovered(landed=0)  # not an outage's end: quiet
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "store commit failed: disk full; refusing writes, keeping asynchronous ones in"
        " memory and retrying",
        "store still failing after 31 s (store commit failed: disk full); 1 asynchronous"
        " writes wait",
        "store writable again after 36.0 s (3 failed attempts so far); recording 4"
        " asynchronous writes kept in memory",
    ]


def test_at_the_end_each_unrecorded_write_is_logged_by_label(clock, caplog):
    health = Health(clock=clock)
    health.failed("commit", OSError("disk full"))
    health.backlog.extend([item("record_results m1/0"), item("finish m1 sent")])
    caplog.clear()  # the outage's own first line
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        health.log_unrecorded()
    assert not health.backlog
    assert caplog.records[0].getMessage().startswith("stopping with 2 asynchronous writes")
    assert [record.getMessage() for record in caplog.records[1:]] == [
        "not recorded: record_results m1/0",
        "not recorded: finish m1 sent",
    ]
