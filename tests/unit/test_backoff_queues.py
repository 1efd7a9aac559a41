"""Unit tests for the engine's small pure parts: backoff and work queues."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.smpp.backoff import backoff_delay
from gateway.workqueue import ReadyQueue, RetrySchedule


@given(
    attempt=st.integers(1, 50),
    low=st.floats(0.01, 5),
    high=st.floats(5, 120),
    r=st.floats(0, 1),
)
def test_backoff_stays_within_half_and_full_capped_delay(attempt, low, high, r):
    delay = backoff_delay(attempt, low, high, rand=lambda: r)
    ceiling = min(high, low * 2 ** (attempt - 1))
    assert ceiling * 0.5 - 1e-9 <= delay <= ceiling + 1e-9


def test_backoff_grows_then_caps():
    delays = [backoff_delay(n, 1, 8, rand=lambda: 1.0) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 8, 8]


def test_ready_queue_retries_go_first_and_take_is_bounded():
    queue: ReadyQueue[int] = ReadyQueue()
    queue.put_many([1, 2, 3])
    queue.put_front(0)
    assert queue.take(2, 0.01) == [0, 1]
    assert queue.take(10, 0.01) == [2, 3]
    assert queue.take(10, 0.01) == []


def test_retry_schedule_releases_only_due_items():
    now = [100.0]
    schedule: RetrySchedule[str] = RetrySchedule(clock=lambda: now[0])
    schedule.add("late", 5)
    schedule.add("soon", 1)
    assert schedule.take_due(0) == []
    now[0] = 101.5
    assert schedule.take_due(0) == ["soon"]
    now[0] = 106
    assert schedule.take_due(0) == ["late"]
