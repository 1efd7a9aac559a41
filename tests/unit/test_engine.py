"""The Engine with a fake store, a fake pool and an injected clock (issue 12, item 8).

The test plays the sessions: it takes tickets with next_submissions and answers them
through the SessionHandler methods, as SmppSession does. The store is a small recording
fake (the real ones have their own tests), so each outcome is checked as the exact call
the engine made: which message finished in which state, with which error and SMPP
status. The wall clock (validity) is injected and frozen; retry delays run on the
engine's monotonic retry schedule, so they are set to a few tens of milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from gateway import metrics
from gateway.config import Config, SmppSettings, StoreSettings
from gateway.engine import Engine, Ticket
from gateway.model import ClaimedMessage, Segment, SegmentResult, State, SubmitParams
from gateway.smpp import codec
from gateway.testing.waiting import wait_for

STEP = 5.0  # the longest a step may take before the test fails
RETRY_MIN = 0.05
NOW = 1_750_000_000.0
PARAMS = SubmitParams(
    source_addr="MITTO",
    source_addr_ton=5,
    source_addr_npi=0,
    destination_addr="41790000001",
    dest_addr_ton=1,
    dest_addr_npi=1,
    data_coding=0,
    esm_class=0,
)
DUPLICATES = "smpp_gateway_possible_duplicates_total"


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


class Clock:
    """The engine's wall clock, frozen unless the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Finish:
    message_id: str
    state: State
    error: str | None
    smpp_status: int | None
    at: float


class FakeStore:
    """What the engine calls of a Store, recording every write; messages to claim are
    added by the test. Writes are taken at once, as a healthy store's queue does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[ClaimedMessage] = []
        self.claims = 0
        self.written: list[tuple[list[tuple[str, int]], float]] = []
        self.results: list[SegmentResult] = []
        self.finished: list[Finish] = []
        self.released: list[str] = []

    def add(self, *messages: ClaimedMessage) -> None:
        with self._lock:
            self._queue.extend(messages)

    def claim(self, limit: int) -> list[ClaimedMessage]:
        with self._lock:
            self.claims += 1
            taken, self._queue = self._queue[:limit], self._queue[limit:]
            return taken

    def requeue_claimed(self) -> int:
        return 0

    def release(self, message_ids: Sequence[str]) -> None:
        self.released.extend(message_ids)

    def record_written(self, segments: Sequence[tuple[str, int]], at: float) -> None:
        self.written.append((list(segments), at))

    def record_results(self, results: Sequence[SegmentResult]) -> None:
        self.results.extend(results)

    def finish(
        self,
        message_id: str,
        state: State,
        *,
        error: str | None = None,
        smpp_status: int | None = None,
        at: float,
    ) -> None:
        self.finished.append(Finish(message_id, state, error, smpp_status, at))

    def writable(self) -> bool:
        return True

    def unrecorded(self) -> int:
        return 0

    def write_failures(self) -> int:
        return 0

    def pending_count(self) -> int:
        return len(self._queue)

    def expire_inbound(self, before: float) -> int:
        return 0

    def unmatched_receipts(self) -> int:
        return 0

    def purge(self, before: float, limit: int = 500) -> Any:
        raise AssertionError("retention is off in these tests")


class FakePool:
    """Stands in for the sessions. `on_stop` runs inside stop(), where the real pool's
    sessions fail the submits still in their windows."""

    def __init__(self) -> None:
        self.bound = True
        self.stopped_with: list[float] = []
        self.on_stop: Callable[[], None] = lambda: None

    def start(self) -> None: ...

    def stop(self, grace: float) -> None:
        self.stopped_with.append(grace)
        self.on_stop()

    def bound_count(self, transmitting_only: bool = False) -> int:
        return 1 if self.bound else 0

    def snapshot(self) -> list[dict[str, Any]]:
        return []


@dataclass
class Rig:
    engine: Engine
    store: FakeStore
    pool: FakePool
    clock: Clock


@pytest.fixture(scope="module")
def stopping() -> Iterator[list[threading.Thread]]:
    """Engines being stopped. Engine.stop() takes up to half a second (its retry thread
    polls at that pace), so each test's engine stops in the background while the next
    test runs; all must have stopped by the end of the module."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(STEP)
    assert not any(thread.is_alive() for thread in threads)


@pytest.fixture
def rig(stopping: list[threading.Thread]) -> Iterator[Rig]:
    store, pool, clock = FakeStore(), FakePool(), Clock(NOW)
    cfg = Config(
        smpp=SmppSettings(retry_min_delay=RETRY_MIN, retry_max_delay=2 * RETRY_MIN, stop_grace=0.0),
        store=StoreSettings(retention=0.0),
    )
    engine = Engine(
        store,  # type: ignore[arg-type]
        cfg,
        lambda _e: pool,  # type: ignore[arg-type,return-value]
        clock=clock,
        idle_poll=0.02,
        maintenance_interval=0.05,
    )
    engine.start()
    yield Rig(engine, store, pool, clock)
    stopper = threading.Thread(target=engine.stop, name="test-engine-stop")
    stopper.start()
    stopping.append(stopper)


def claimed(
    message_id: str, segments: int = 1, expires_in: float = 3600.0, unanswered: int = 0
) -> ClaimedMessage:
    return ClaimedMessage(
        id=message_id,
        submit=PARAMS,
        segments=tuple(Segment(seq, f"part {seq}".encode()) for seq in range(segments)),
        segment_count=segments,
        expires_at=NOW + expires_in,
        created_at=NOW - 1.0,
        attempts=1,
        unanswered=unanswered,
    )


def take(engine: Engine, count: int) -> list[Ticket]:
    """The next `count` tickets, as a session's writer asks for them."""
    taken: list[Ticket] = []

    def more() -> bool:
        taken.extend(engine.next_submissions(count - len(taken), 0.02))
        return len(taken) >= count

    wait_for(more, timeout=STEP, what=f"{count} tickets")
    return taken


def answer(rig: Rig, ticket: Ticket, status: int, smsc_id: str | None = None) -> None:
    rig.engine.on_submit_response(ticket, status, smsc_id, "trx0")


# -- outcomes ------------------------------------------------------------------------------


def test_all_segments_answered_finish_sent_once_with_the_smsc_ids(rig: Rig) -> None:
    submitted = sample("smpp_gateway_segments_submitted_total")
    rig.store.add(claimed("m1", segments=2))
    tickets = take(rig.engine, 2)
    assert [(t.message_id, t.segment.seq, t.payload) for t in tickets] == [
        ("m1", 0, b"part 0"),
        ("m1", 1, b"part 1"),
    ]
    rig.engine.on_written(tickets)
    assert rig.store.written == [([("m1", 0), ("m1", 1)], NOW)]

    answer(rig, tickets[0], codec.ESME_ROK, "smsc-0")
    assert rig.store.finished == []  # one segment is still out
    answer(rig, tickets[1], codec.ESME_ROK, "smsc-1")
    answer(rig, tickets[1], codec.ESME_ROK, "smsc-1")  # a late repeat changes nothing

    assert rig.store.results[:2] == [
        SegmentResult("m1", 0, codec.ESME_ROK, "smsc-0", NOW),
        SegmentResult("m1", 1, codec.ESME_ROK, "smsc-1", NOW),
    ]
    assert rig.store.finished == [Finish("m1", State.SENT, None, None, NOW)]
    assert sample("smpp_gateway_segments_submitted_total") - submitted >= 2


def test_permanent_error_fails_the_message_with_its_smpp_status(rig: Rig) -> None:
    failed = sample("smpp_gateway_messages_failed_total", {"reason": "smsc_permanent"})
    rig.store.add(claimed("m1", segments=2))
    first, second = take(rig.engine, 2)
    answer(rig, first, 0x0B)  # ESME_RINVDSTADR
    answer(rig, second, codec.ESME_ROK, "smsc-1")  # the message failed already

    assert rig.store.results[0] == SegmentResult("m1", 0, 0x0B, None, NOW)
    assert len(rig.store.finished) == 1
    finish = rig.store.finished[0]
    assert (finish.message_id, finish.state, finish.smpp_status) == ("m1", State.FAILED, 0x0B)
    assert finish.error is not None and "ESME_RINVDSTADR" in finish.error
    assert sample("smpp_gateway_messages_failed_total", {"reason": "smsc_permanent"}) == failed + 1
    assert rig.engine.next_submissions(10, 0.0) == []  # not retried


@pytest.mark.parametrize(
    ("status", "name", "duplicates"),
    [
        (codec.RESPONSE_TIMEOUT, "RESPONSE_TIMEOUT", 1),
        (codec.CONNECTION_LOST, "CONNECTION_LOST", 1),
        (codec.ESME_RTHROTTLED, "ESME_RTHROTTLED", 0),
        (codec.ESME_RMSGQFUL, "ESME_RMSGQFUL", 0),
    ],
    ids=["timeout", "connection-lost", "throttled", "queue-full"],
)
def test_transient_error_is_retried_after_a_delay(
    rig: Rig, status: int, name: str, duplicates: int
) -> None:
    """Only a submit that was written and never answered may be on the SMSC already:
    a timeout or a lost link is a possible duplicate, a refusal (throttled, queue full)
    is not (issue 12, item 9)."""
    before = sample(DUPLICATES)
    retries = sample("smpp_gateway_submit_retries_total", {"status": name})
    rig.store.add(claimed("m1"))
    (ticket,) = take(rig.engine, 1)
    answered_at = time.monotonic()
    answer(rig, ticket, status)

    (again,) = take(rig.engine, 1)
    assert time.monotonic() - answered_at >= RETRY_MIN / 2  # the backoff floor
    assert again is ticket and again.attempt == 1
    assert sample(DUPLICATES) - before == duplicates
    assert sample("smpp_gateway_submit_retries_total", {"status": name}) == retries + 1
    assert rig.store.finished == []

    answer(rig, again, codec.ESME_ROK, "smsc-9")
    assert [f.state for f in rig.store.finished] == [State.SENT]


def test_message_past_its_validity_fails_without_a_submit(rig: Rig) -> None:
    expired = sample("smpp_gateway_messages_failed_total", {"reason": "expired"})
    rig.store.add(claimed("m1", expires_in=-1.0))
    wait_for(lambda: rig.store.finished, timeout=STEP, what="the claim")
    assert rig.store.finished == [
        Finish("m1", State.FAILED, "validity expired before submission", None, NOW)
    ]
    assert rig.engine.next_submissions(10, 0.0) == []
    assert rig.store.written == [] and rig.store.results == []
    assert sample("smpp_gateway_messages_failed_total", {"reason": "expired"}) == expired + 1


def test_validity_running_out_while_retrying_fails_the_message(rig: Rig) -> None:
    rig.store.add(claimed("m1", expires_in=60.0))
    (ticket,) = take(rig.engine, 1)
    rig.clock.now += 61.0
    answer(rig, ticket, codec.ESME_RTHROTTLED)
    assert rig.store.finished == [
        Finish(
            "m1", State.FAILED, "validity expired while retrying (ESME_RTHROTTLED)", None, NOW + 61
        )
    ]
    assert rig.engine.next_submissions(10, 4 * RETRY_MIN) == []  # and no retry comes back


def test_segments_an_earlier_run_left_unanswered_count_as_possible_duplicates(rig: Rig) -> None:
    before = sample(DUPLICATES)
    rig.store.add(claimed("m1", segments=3, unanswered=3), claimed("m2"))
    take(rig.engine, 4)
    assert sample(DUPLICATES) - before == 3


# -- feeding, sessions, stop -----------------------------------------------------------------


def test_nothing_is_claimed_while_no_transmitter_is_bound(rig: Rig) -> None:
    rig.pool.bound = False
    claims = rig.store.claims
    rig.store.add(claimed("m1"))
    rig.engine.notify_new_work()
    assert rig.engine.next_submissions(10, 0.1) == []
    assert rig.store.claims == claims
    rig.pool.bound = True
    rig.engine.on_session_state("unit-engine-0", True, "bound")  # wakes the feeder
    assert [t.message_id for t in take(rig.engine, 1)] == ["m1"]


def test_session_state_counts_binds_and_losses_but_not_a_stop(rig: Rig) -> None:
    session = {"session": "unit-engine-1"}
    lost = {"session": "unit-engine-1", "reason": "closed"}
    binds = sample("smpp_gateway_session_binds_total", session)
    losses = sample("smpp_gateway_session_link_losses_total", lost)

    rig.engine.on_session_state("unit-engine-1", True, "bound")
    assert sample("smpp_gateway_session_bound", session) == 1
    rig.engine.on_session_state("unit-engine-1", False, "connection closed by the SMSC")
    rig.engine.on_session_state("unit-engine-1", True, "bound")
    rig.engine.on_session_state("unit-engine-1", False, "stopped")

    assert sample("smpp_gateway_session_bound", session) == 0
    assert sample("smpp_gateway_session_binds_total", session) == binds + 2
    assert sample("smpp_gateway_session_link_losses_total", lost) == losses + 1


def test_stop_releases_unfinished_messages_and_counts_no_duplicate_yet(rig: Rig) -> None:
    """A submit still in a window at stop stays written and unanswered in the store: it
    is counted when a later run claims it again, not here as well."""
    rig.store.add(claimed("m1"), claimed("m2"), claimed("m3"))
    sent, in_flight, throttled = take(rig.engine, 3)
    rig.engine.on_written([sent, in_flight, throttled])
    answer(rig, sent, codec.ESME_ROK, "smsc-1")
    answer(rig, throttled, codec.ESME_RTHROTTLED)  # waits in the retry schedule
    rig.pool.on_stop = lambda: answer(rig, in_flight, codec.CONNECTION_LOST)
    before = sample(DUPLICATES)

    rig.engine.stop()

    assert rig.pool.stopped_with == [0.0]
    assert sorted(rig.store.released) == ["m2", "m3"]
    assert [(f.message_id, f.state) for f in rig.store.finished] == [("m1", State.SENT)]
    assert sample(DUPLICATES) == before
