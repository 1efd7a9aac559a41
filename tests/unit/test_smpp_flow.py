"""The flow control rule (gateway/smpp/flow.py) with an injected clock: how the window
grows and shrinks, how the pace follows a throttling SMSC, and the fixed mode.

Why: the rule decides the gateway's speed over a real network and how hard it hits a
throttling SMSC; each case here is one line of the table in docs/architecture.md
("Submit flow control")."""

from __future__ import annotations

import threading

import pytest

from gateway.account_rate import AccountRate
from gateway.smpp import codec
from gateway.smpp.flow import PACE_CUT, PACE_GROWTH, PROBE_AFTER, FlowSettings, SubmitFlow
from gateway.store import StoreError

OK = codec.ESME_ROK
RTT = 0.05  # a submit's round trip in these scenarios


def settings(window: int = 10, window_max: int = 500, adaptive: bool = True) -> FlowSettings:
    return FlowSettings(
        window=window,
        window_max=window_max,
        adaptive=adaptive,
        response_timeout=10.0,
        throttle_pause=1.0,
    )


class Pipe:
    """A session sending as fast as the flow lets it to an SMSC answering after RTT."""

    def __init__(self, flow: SubmitFlow, now: float = 0.0) -> None:
        self.flow = flow
        self.now = now

    def round_trip(self, status: int = OK) -> int:
        """Fill the room, then let RTT pass and answer everything: returns how many went."""
        room, _ = self.flow.room(0, self.now)
        self.flow.sent(room, self.now)
        self.now += RTT
        for _ in range(room):  # each written with the whole batch in flight
            self.flow.answered(status, self.now - RTT, room, self.now)
        return room


def test_slow_start_doubles_the_window_per_round_trip_up_to_window_max() -> None:
    pipe = Pipe(SubmitFlow(settings(window=10, window_max=100), 0.0))
    sizes = []
    for _ in range(5):
        pipe.round_trip()
        sizes.append(pipe.flow.window)
    assert sizes == [20, 40, 80, 100, 100]


def test_above_the_threshold_the_window_grows_one_per_round_trip() -> None:
    flow = SubmitFlow(settings(window=40), 0.0)
    flow.sent(100_000, 0.0)  # so the pace the throttle sets (90,000/s) never holds it back
    flow.answered(codec.ESME_RMSGQFUL, 0.0, 40, 0.01)  # halves to 20, threshold 20
    assert flow.window == 20
    pipe = Pipe(flow, now=0.1)
    sizes = []
    for _ in range(4):
        pipe.round_trip()
        sizes.append(pipe.flow.window)
    assert sizes == [21, 22, 23, 24]


def test_a_window_not_in_use_does_not_grow() -> None:
    flow = SubmitFlow(settings(window=10), 0.0)
    for i in range(100):  # four at a time: never half the window in flight
        flow.sent(4, i * 0.1)
        for _ in range(4):
            flow.answered(OK, i * 0.1, 4, i * 0.1 + RTT)
    assert flow.window == 10
    flow.sent(5, 20.0)
    flow.answered(OK, 20.0, 5, 20.0 + RTT)  # five of ten: in use
    assert flow.window == 11


def test_late_answers_do_not_grow_the_window() -> None:
    flow = SubmitFlow(settings(window=10), 0.0)
    flow.sent(10, 0.0)
    for left in range(10, 0, -1):  # answered after 6 s: more than half response_timeout
        flow.answered(OK, 0.0, left, 6.0)
    assert flow.window == 10


def test_throttling_halves_once_per_round_trip() -> None:
    flow = SubmitFlow(settings(window=64), 0.0)
    flow.sent(64, 0.0)
    for left in range(64, 0, -1):  # every submit of the window throttled
        flow.answered(codec.ESME_RTHROTTLED, 0.0, left, RTT)
    assert flow.window == 32  # not 1: all were written before the first cut
    flow.sent(1, 0.1)
    flow.answered(codec.ESME_RTHROTTLED, 0.1, 1, 0.1 + RTT)
    assert flow.window == 16  # written after it: cuts again
    assert flow.throttled == 65


def test_a_timeout_drops_the_window_to_one_and_slow_start_returns_to_half() -> None:
    pipe = Pipe(SubmitFlow(settings(window=64), 0.0))
    pipe.flow.timed_out(0.0)
    assert pipe.flow.window == 1
    sizes = []
    for _ in range(7):
        pipe.round_trip()
        sizes.append(pipe.flow.window)
    assert sizes == [2, 4, 8, 16, 32, 33, 34]  # doubling to 32 (half of 64), then +1


def test_the_window_stays_at_least_one() -> None:
    flow = SubmitFlow(settings(window=1), 0.0)
    for i in range(5):
        flow.answered(codec.ESME_RTHROTTLED, i, 1, i + 0.01)
    assert flow.window == 1


def test_fixed_mode_keeps_the_window_and_pauses_after_a_throttle() -> None:
    pipe = Pipe(SubmitFlow(settings(window=10, adaptive=False), 0.0))
    for _ in range(5):
        pipe.round_trip()
    assert pipe.flow.window == 10
    pipe.flow.answered(codec.ESME_RTHROTTLED, pipe.now, 1, pipe.now + 0.01)
    assert pipe.flow.room(0, pipe.now + 0.5) == (0, pytest.approx(0.51))
    assert pipe.flow.room(0, pipe.now + 1.02) == (10, 0.0)
    pipe.flow.timed_out(pipe.now + 2)
    assert pipe.flow.window == 10 and pipe.flow.pace is None


# -- the pace ------------------------------------------------------------------------------


def steady(flow: SubmitFlow, start: float, seconds: float, smsc_rate: float) -> tuple[int, int]:
    """Write whatever the flow allows every millisecond to an SMSC answering at once and
    throttling above `smsc_rate` (a token bucket of a tenth of a second, like the
    simulator's): (accepted, throttled)."""
    tokens, accepted, throttled = smsc_rate * 0.1, 0, 0
    now, step = start, 0.001
    while now < start + seconds:
        tokens = min(smsc_rate * 0.1, tokens + step * smsc_rate)
        room, _ = flow.room(0, now)
        flow.sent(room, now)
        for _ in range(room):
            if tokens >= 1:
                tokens -= 1
                accepted += 1
                flow.answered(OK, now, room, now + 0.0005)
            else:
                throttled += 1
                flow.answered(codec.ESME_RTHROTTLED, now, room, now + 0.0005)
        now += step
    return accepted, throttled


def test_unpaced_until_the_first_throttle_then_paced_below_the_rate_that_caused_it() -> None:
    flow = SubmitFlow(settings(window=10), 0.0)
    assert flow.room(0, 0.0) == (10, 0.0) and flow.pace is None
    for i in range(1000):  # 1,000/s for a second
        flow.sent(1, i / 1000)
    flow.answered(codec.ESME_RTHROTTLED, 0.999, 1, 1.0)
    assert flow.pace == pytest.approx(PACE_CUT * 1000, rel=0.01)


def test_the_pace_settles_just_under_a_throttling_smsc_with_few_throttles() -> None:
    """From full speed (a millisecond away, window 10 = 10,000/s) against an SMSC taking
    300/s: after ten seconds the rate is within 10% of 300 and throttles under 2%."""
    flow = SubmitFlow(settings(window=10), 0.0)
    steady(flow, 0.0, 10.0, 300)
    accepted, throttled = steady(flow, 10.0, 30.0, 300)
    assert 270 <= accepted / 30.0 <= 301
    assert throttled / (accepted + throttled) < 0.02


def test_the_pace_grows_only_while_it_is_the_limit() -> None:
    flow = SubmitFlow(settings(window=10), 0.0)
    flow.sent(50, 0.5)
    flow.sent(50, 1.0)
    flow.answered(codec.ESME_RTHROTTLED, 1.0, 1, 1.0)  # 100 in half a second
    paced = flow.pace
    assert paced == pytest.approx(PACE_CUT * 200)
    for i in range(40):  # asks for one at a time, 10/s: the pace never holds it back
        now = 1.1 + i / 10
        assert flow.room(flow.window - 1, now)[0] == 1
        flow.sent(1, now)
    assert flow.pace == paced
    # wanting the whole window every 10 ms: held back, so the pace grows 5% a second
    now, start = 6.0, 6.0
    while now < 8.0:
        flow.sent(flow.room(0, now)[0], now)
        now += 0.01
    assert flow.pace == pytest.approx(paced * PACE_GROWTH ** (now - 0.01 - start), rel=0.02)


def test_a_burst_counts_at_its_own_rate_not_over_a_whole_second() -> None:
    """A window let out at once, throttled 20 ms later: the pace must not fall to 0.9
    times ten per second (what ten in the last second would say)."""
    flow = SubmitFlow(settings(window=10), 0.0)
    flow.sent(10, 5.0)
    flow.answered(codec.ESME_RTHROTTLED, 5.0, 10, 5.02)
    assert flow.pace == pytest.approx(PACE_CUT * 10 / 0.1)  # over at least 0.1 s


def test_ten_seconds_after_the_last_throttle_the_pace_doubles_per_second() -> None:
    flow = SubmitFlow(settings(window=10_000, window_max=10_000), 0.0)
    flow.sent(100, 0.5)
    flow.answered(codec.ESME_RTHROTTLED, 0.5, 1, 0.51)
    now = PROBE_AFTER + 1.0
    flow.room(0, now)
    start = flow.pace
    assert start is not None
    while now < PROBE_AFTER + 3.0:
        now += 0.01
        flow.sent(flow.room(0, now)[0], now)
    assert flow.pace == pytest.approx(start * 4, rel=0.05)


# -- smpp.max_rate: the account's tokens ---------------------------------------------------


class Bucket:
    """Store.take_tokens over a bucket the test fills; records each call."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.calls: list[tuple[str, float, float, int]] = []
        self.fail = False

    def __call__(self, bucket: str, rate: float, burst: float, count: int) -> tuple[int, float]:
        self.calls.append((bucket, rate, burst, count))
        if self.fail:
            raise StoreError("store down")
        taken = min(count, self.tokens)
        self.tokens -= taken
        return taken, 0.0 if taken else 0.25


def test_account_rate_takes_a_batch_from_the_store_and_hands_it_out() -> None:
    bucket, stopping = Bucket(100), threading.Event()
    rate = AccountRate(200.0, bucket, clock=lambda: 0.0)
    assert rate.take(4, stopping, 0.1) == 4  # a batch of 10 (50 ms at 200/s) taken
    assert rate.take(10, stopping, 0.1) == 6  # the rest of that batch, no store call
    assert bucket.calls == [("smpp:submit", 200.0, 20.0, 10)]
    rate.give_back(50)  # unused ones are kept, up to one batch
    assert rate.take(100, stopping, 0.1) == 10


def test_account_rate_waits_for_the_store_bucket_and_survives_a_store_fault() -> None:
    now = [0.0]
    bucket, stopping = Bucket(0), threading.Event()
    stopping.set()  # waits return at once; the result is what matters
    rate = AccountRate(200.0, bucket, clock=lambda: now[0])
    assert rate.take(5, stopping, 0.1) == 0
    assert rate.take(5, stopping, 0.1) == 0
    assert len(bucket.calls) == 1  # asks again only once the bucket said it would refill
    now[0] = 0.3
    bucket.tokens, bucket.fail = 5, True
    assert rate.take(5, stopping, 0.1) == 0
    now[0] = 1.4
    bucket.fail = False
    assert rate.take(5, stopping, 0.1) == 5
