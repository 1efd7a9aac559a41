"""The simulator's flow control: --response-jitter (responses out of order) and
--throttle-rate (an account-wide token bucket answering ESME_RTHROTTLED).

No sockets and no sleeps: the simulator's own protocol object (`SmppConnection`) is
driven directly, with a transport that records what it writes and an event loop whose
clock the test moves by hand, so every due time and every refill is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from typing import Any

import pytest

from gateway.simulator.config import SimConfig
from gateway.simulator.deliver import ReceiptJob
from gateway.simulator.pdu import (
    BIND_TRANSCEIVER,
    ESME_RTHROTTLED,
    HEADER,
    RESP,
    SUBMIT_SM,
    ShortMessage,
    encode_sm,
    pdu,
)
from gateway.simulator.ratelimit import BURST_SECONDS, TokenBucket
from gateway.simulator.session import SmppConnection
from gateway.simulator.smsc import Smsc

START = 1000.0
BIND_BODY = b"smppclient\0password\0\0\x34\x00\x00\0"
SUBMIT_BODY = encode_sm(
    ShortMessage(
        source_addr=b"41790000001",
        destination_addr=b"41790000002",
        registered_delivery=1,
        short_message=b"hi",
    )
)


class Timer:
    """What `call_at` returns: cancellable, with its time."""

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]):
        self._when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """The part of an event loop a connection uses, on a clock that only `advance` moves."""

    def __init__(self) -> None:
        self.now = START
        self._timers: list[tuple[float, int, Timer]] = []
        self._count = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Timer:
        timer = Timer(when, callback, args)
        self._count += 1
        heapq.heappush(self._timers, (when, self._count, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, seconds: float) -> None:
        """Run every timer due within `seconds`, each at its own time, in time order."""
        until = self.now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _count, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self.now = max(self.now, when)
                timer.callback(*timer.args)
        self.now = until


class Wire(asyncio.Transport):
    """A transport that keeps every write with the loop time it happened at."""

    def __init__(self, loop: ManualLoop) -> None:
        super().__init__()
        self._loop = loop
        self.writes: list[tuple[float, bytes]] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append((self._loop.now, bytes(data)))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def submit_resps(self) -> list[tuple[float, int, int, bytes]]:
        """(time written, seq, status, message id) of each submit_sm_resp so far, in order."""
        resps = []
        for at, data in self.writes:
            off = 0
            while off < len(data):
                length, command, status, seq = HEADER.unpack_from(data, off)
                if command == SUBMIT_SM | RESP:
                    resps.append((at, seq, status, data[off + 16 : off + length].rstrip(b"\0")))
                off += length
        return resps


class Client:
    """One bound connection to a `Smsc` on a `ManualLoop`."""

    def __init__(self, smsc: Smsc, loop: ManualLoop) -> None:
        self.loop = loop
        self.wire = Wire(loop)
        self.conn = SmppConnection(smsc, loop)  # duck-typed loop
        self.conn.connection_made(self.wire)
        self.seq = 1
        self.conn.data_received(pdu(BIND_TRANSCEIVER, 0, self.seq, BIND_BODY))

    def submit(self, count: int = 1) -> list[int]:
        """`count` submit_sm in one TCP read (one instant); returns their sequence numbers."""
        seqs = list(range(self.seq + 1, self.seq + 1 + count))
        self.seq += count
        self.conn.data_received(b"".join(pdu(SUBMIT_SM, 0, s, SUBMIT_BODY) for s in seqs))
        return seqs

    def statuses(self) -> dict[int, int]:
        return {seq: status for _at, seq, status, _id in self.wire.submit_resps()}


def simulator(**options: Any) -> tuple[Smsc, ManualLoop, list[tuple[float, ReceiptJob]]]:
    """A `Smsc` (receipts at once, ids from 1000) whose scheduled receipts are recorded."""
    smsc = Smsc(SimConfig(first_id=1000, receipt_delay=0, **options))
    loop = ManualLoop()
    receipts: list[tuple[float, ReceiptJob]] = []
    smsc.schedule_receipt = lambda job: receipts.append((loop.now, job))
    return smsc, loop, receipts


# -- response jitter -----------------------------------------------------------


def test_jittered_responses_leave_in_due_order_each_once_with_its_receipt() -> None:
    options: dict[str, Any] = {"response_delay": 0.01, "response_jitter": 0.2, "seed": 7}
    smsc, loop, receipts = simulator(**options)
    twin = Smsc(SimConfig(**options))  # same seed: the same draws, in the same order
    client = Client(smsc, loop)
    due: dict[int, float] = {}
    for _ in range(20):
        (seq,) = client.submit()
        due[seq] = loop.now + twin.response_hold()
        loop.advance(0.005)
    loop.advance(1.0)

    resps = client.wire.submit_resps()
    order = [seq for _at, seq, _status, _id in resps]
    assert order == sorted(due, key=lambda seq: (due[seq], seq))
    assert order != sorted(due), "the seed was meant to reorder them"
    assert [at for at, *_ in resps] == pytest.approx([due[seq] for seq in order])
    assert client.conn.pending_responses == 0 and smsc.stats_view()["held_responses"] == 0
    # each receipt was scheduled once, when its own response went out
    released = [(at, message_id.decode()) for at, _seq, _status, message_id in resps]
    assert [(at, job.receipt_id) for at, job in receipts] == released
    ids = [message_id for _at, message_id in released]
    assert sorted(ids) == [str(n) for n in range(1000, 1020)]


def test_jitter_draws_repeat_with_the_seed_and_differ_without_it() -> None:
    def draws(seed: int) -> list[float]:
        smsc = Smsc(SimConfig(response_delay=0.5, response_jitter=0.1, seed=seed))
        return [smsc.response_hold() for _ in range(10)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert all(0.5 <= hold <= 0.6 for hold in draws(3))
    assert Smsc(SimConfig(response_delay=0.5)).response_hold() == 0.5


def test_without_jitter_responses_keep_arrival_order_even_when_the_delay_shrinks() -> None:
    smsc, loop, receipts = simulator(response_delay=1.0)
    client = Client(smsc, loop)
    sent = []
    for _ in range(3):
        sent += client.submit(2)
        loop.advance(0.1)
    smsc.configure({"response_delay": 0.05})  # later ones are due sooner, but queue behind
    for _ in range(3):
        sent += client.submit()
        loop.advance(0.01)
    assert client.wire.submit_resps() == []
    loop.advance(2.0)
    resps = client.wire.submit_resps()
    assert [seq for _at, seq, _status, _id in resps] == sent
    assert resps[0][0] == START + 1.0 and len(receipts) == len(sent)


def test_pause_holds_jittered_responses_and_resume_sends_them_in_due_order() -> None:
    options: dict[str, Any] = {"response_jitter": 0.3, "seed": 11, "paused": True}
    smsc, loop, _receipts = simulator(**options)
    twin = Smsc(SimConfig(**options))
    client = Client(smsc, loop)
    due = {}
    for seq in client.submit(12):
        due[seq] = START + twin.response_hold()
    loop.advance(5.0)
    assert client.wire.submit_resps() == []
    assert smsc.stats_view()["held_responses"] == 12
    smsc.resume()
    resps = client.wire.submit_resps()
    assert [seq for _at, seq, _status, _id in resps] == sorted(due, key=due.__getitem__)
    assert {at for at, *_ in resps} == {START + 5.0}  # all at once, on resume
    assert smsc.stats_view()["held_responses"] == 0


def test_pause_without_jitter_releases_in_arrival_order() -> None:
    smsc, loop, _receipts = simulator(paused=True)
    client = Client(smsc, loop)
    sent = []
    for _ in range(4):
        sent += client.submit(2)
        loop.advance(0.2)
    assert client.conn.pending_responses == 8 and client.wire.submit_resps() == []
    smsc.configure({"paused": False})
    assert [seq for _at, seq, _status, _id in client.wire.submit_resps()] == sent


def test_a_lost_connection_still_schedules_each_held_receipt_once() -> None:
    smsc, loop, receipts = simulator(response_jitter=1.0)
    client = Client(smsc, loop)
    client.submit(5)
    client.conn.connection_lost(None)
    assert sorted(job.receipt_id for _at, job in receipts) == [str(n) for n in range(1000, 1005)]
    loop.advance(2.0)  # the cancelled release timer writes nothing
    assert client.wire.submit_resps() == []


# -- throttle rate: the token bucket --------------------------------------------


# Rates whose refill per 1/1024 s is exact in binary, or small beside the bucket: a
# bucket of one token drops what overflows between two arrivals, so 10/s would get 9.
@pytest.mark.parametrize("rate", [1, 8, 64, 100, 1000])
def test_bucket_burst_then_the_rate(rate: int) -> None:
    bucket = TokenBucket(rate)
    burst = math.floor(max(1.0, rate * BURST_SECONDS))
    at_once = [bucket.take(0.0) for _ in range(burst + 20)]
    assert at_once == [True] * burst + [False] * 20
    # one second of arrivals, 4 every 1/1024 s (faster than any rate here): the rate passes
    accepted = sum(bucket.take(step / 1024) for step in range(1, 1025) for _ in range(4))
    assert accepted == rate


def test_bucket_holds_a_tenth_of_a_second_not_more() -> None:
    bucket = TokenBucket(100)
    assert sum(bucket.take(0.0) for _ in range(50)) == 10
    assert bucket.tokens(10.0) == 10  # ten idle seconds: still only the burst
    assert sum(bucket.take(10.0) for _ in range(50)) == 10
    assert sum(bucket.take(10.0625) for _ in range(50)) == 6  # 1/16 s at 100/s: 6.25


def test_throttle_rate_answers_rthrottled_and_accepts_nothing_for_it() -> None:
    smsc, loop, receipts = simulator(throttle_rate=20)  # burst of 2
    client = Client(smsc, loop)
    first = client.submit(5)
    assert [client.statuses()[s] for s in first] == [0, 0] + [ESME_RTHROTTLED] * 3
    loop.advance(0.0625)  # 1.25 tokens at 20/s
    second = client.submit(2)
    assert [client.statuses()[s] for s in second] == [0, ESME_RTHROTTLED]
    stats = smsc.stats_view()
    assert (stats["submit_sm"], stats["throttled"], len(receipts)) == (3, 4, 3)


def test_throttle_rate_is_for_all_sessions_together() -> None:
    smsc, loop, _receipts = simulator(throttle_rate=30)  # burst of 3
    one, two = Client(smsc, loop), Client(smsc, loop)
    one.submit(2)
    two.submit(2)
    assert list(one.statuses().values()) == [0, 0]
    assert list(two.statuses().values()) == [0, ESME_RTHROTTLED]


def test_setting_the_rate_refills_the_bucket_and_zero_turns_it_off() -> None:
    smsc = Smsc(SimConfig(throttle_rate=100))
    assert [smsc.submit_fault(0.0) for _ in range(12)] == [0] * 10 + [ESME_RTHROTTLED] * 2
    smsc.configure({"throttle_rate": 50})
    assert [smsc.submit_fault(0.0) for _ in range(7)] == [0] * 5 + [ESME_RTHROTTLED] * 2
    smsc.configure({"throttle_rate": 50})  # the same rate again: full again too
    assert [smsc.submit_fault(0.0) for _ in range(6)] == [0] * 5 + [ESME_RTHROTTLED]
    smsc.configure({"throttle_rate": "0"})
    assert not smsc.faults
    assert {smsc.submit_fault(0.0) for _ in range(1000)} == {0}
    assert smsc.stats.throttled == 5


def test_rate_limit_composes_with_throttle_every_and_fail_every() -> None:
    smsc = Smsc(SimConfig(throttle_rate=100, throttle_every=3, fail_every=4, fail_status=0x45))
    statuses = [smsc.submit_fault(0.0) for _ in range(12)]
    # the bucket lets 10 through; of those every 3rd is throttled, of the rest every 4th fails
    assert statuses == [0, 0, 0x58, 0, 0x45, 0x58, 0, 0, 0x58, 0, 0x58, 0x58]
    assert (smsc.stats.throttled, smsc.stats.failed) == (5, 1)


@pytest.mark.parametrize("knob", ["throttle_rate", "response_jitter"])
@pytest.mark.parametrize("value", [-1, "nan", "inf"])
def test_rate_and_jitter_refuse_negative_or_infinite_values(knob: str, value: Any) -> None:
    smsc = Smsc(SimConfig())
    with pytest.raises(ValueError, match="finite number"):
        smsc.configure({knob: value})
    with pytest.raises(ValueError, match=knob):
        SimConfig(**{knob: float(value)})
    assert smsc.cfg.runtime_view()[knob] == 0.0
