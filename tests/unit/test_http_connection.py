"""The HTTP worker's connection life, with bytes and clock values alone (no sockets).

What the slow-client integration tests show end to end (tests/integration/
test_http_slow_clients.py: 408s, silent clients closed, keep-alive, pipelining, lingering)
rests on these decisions; here each is pinned down in microseconds, times given by hand.
"""

from __future__ import annotations

import math
import socket

import pytest

from gateway.http_worker.connection import (
    LINGER_MAX_BYTES,
    LINGER_SECONDS,
    STOP_IDLE_LINGER,
    STOP_LINGER_SECONDS,
    Connection,
    State,
    Step,
    Timeouts,
)
from gateway.http_worker.deadlines import Deadlines
from gateway.http_worker.framing import FrameLimits, Refusal
from gateway.http_worker.replay import ReplaySource

LIMITS = FrameLimits(request_line=100, head=400, body=1000, chunk_line=50)
TIMEOUTS = Timeouts(request_read=10.0, keepalive=5.0)
GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def new(now: float = 100.0, handshake: bool = False) -> Connection:
    return Connection(LIMITS, TIMEOUTS, now, handshake)


def feed(conn: Connection, data: bytes, now: float) -> bool:
    """As the worker's read loop does: append, then tell the connection."""
    conn.buf += data
    return conn.received(now)


# ---- reading a request ---------------------------------------------------------------


def test_a_request_arriving_in_pieces_waits_until_whole_then_is_served():
    conn = new()
    steps = []
    for i in range(len(GET)):
        feed(conn, GET[i : i + 1], now=100.0 + i)
        steps.append(conn.next_step(eof=False))
    assert steps[:-1] == [Step.WAIT] * (len(GET) - 1)
    assert steps[-1] is Step.SERVE
    assert conn.hand_over() == GET
    assert conn.state is State.IN_THREAD and conn.buf == bytearray()


def test_nothing_buffered_is_a_wait_and_a_client_gone_mid_request_is_a_close():
    conn = new()
    assert conn.next_step(eof=False) is Step.WAIT
    feed(conn, GET[:10], now=101.0)
    assert conn.next_step(eof=True) is Step.CLOSE


def test_expect_100_continue_asks_for_the_body_once():
    conn = new()
    head = b"POST /sms HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    feed(conn, head, now=100.0)
    assert conn.next_step(eof=False) is Step.CONTINUE
    assert conn.next_step(eof=False) is Step.WAIT
    feed(conn, b"hello", now=101.0)
    assert conn.next_step(eof=False) is Step.SERVE


def test_refusals_say_who_answers():
    head = new()
    feed(head, b"GET /" + b"a" * 200, now=100.0)
    refusal = head.next_step(eof=False)
    assert isinstance(refusal, Refusal) and refusal.status == 414
    assert not refusal.by_application  # the worker answers a head error itself
    body = new()
    feed(body, b"POST /sms HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", now=100.0)
    refusal = body.next_step(eof=False)
    assert isinstance(refusal, Refusal) and refusal.status == 413
    assert refusal.by_application  # the endpoint answers in its own format


def test_the_buffer_is_full_past_the_largest_request_the_limits_allow():
    conn = new()
    conn.buf += b"x" * conn.max_buffer
    assert not conn.full
    conn.buf += b"x"
    assert conn.full


# ---- deadlines -------------------------------------------------------------------------


def test_a_new_connection_must_send_its_first_byte_within_the_read_timeout():
    conn = new(now=100.0)
    assert conn.deadline == 110.0
    assert conn.expired() is Step.CLOSE  # silent: closed without an answer


def test_the_request_deadline_starts_at_its_first_byte_and_does_not_move_after():
    conn = new(now=100.0)
    assert not conn.received(now=103.0)  # nothing buffered yet
    assert feed(conn, GET[:5], now=104.0)  # the first byte: file the new deadline
    assert conn.deadline == 114.0
    assert not feed(conn, GET[5:9], now=113.0)
    assert conn.deadline == 114.0


def test_a_request_cut_off_by_its_deadline_is_a_408():
    conn = new(now=100.0)
    feed(conn, GET[:5], now=100.0)
    refusal = conn.expired()
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.message) == (408, "request not complete within 10 s")
    assert not refusal.by_application


def test_a_tls_handshake_runs_under_the_first_requests_deadline():
    conn = new(now=100.0, handshake=True)
    assert conn.state is State.HANDSHAKE and conn.deadline == 110.0
    assert conn.expired() is Step.CLOSE
    conn.handshake_done()
    assert conn.state is State.READING and conn.deadline == 110.0


def test_a_connection_in_a_request_thread_has_no_deadline_action():
    conn = new()
    feed(conn, GET, now=100.0)
    conn.hand_over()
    assert conn.expired() is None


def test_a_kept_connection_idles_for_keepalive_and_a_pipelined_request_gets_the_read_timeout():
    idle = new()
    idle.next_request(b"", now=200.0, stopping=False)
    assert (idle.state, idle.started, idle.deadline) == (State.READING, False, 205.0)
    assert idle.expired() is Step.CLOSE
    pipelined = new()
    pipelined.next_request(GET, now=200.0, stopping=False)
    assert (pipelined.started, pipelined.deadline, bytes(pipelined.buf)) == (True, 210.0, GET)
    assert pipelined.next_step(eof=False) is Step.SERVE


def test_stopping_shortens_idle_connections_but_not_requests_under_way():
    idle = new(now=100.0)
    assert idle.stop(now=100.0)
    assert idle.deadline == 100.0 + STOP_IDLE_LINGER
    assert not idle.stop(now=100.0)  # already as short: nothing to file again
    busy = new(now=100.0)
    feed(busy, GET[:5], now=100.0)
    assert not busy.stop(now=100.0)
    assert busy.deadline == 110.0
    kept = new()
    kept.next_request(b"", now=200.0, stopping=True)
    assert kept.deadline == 200.0 + min(TIMEOUTS.keepalive, STOP_IDLE_LINGER)


def test_lingering_drains_for_a_short_while_and_a_bounded_amount():
    conn = new()
    conn.linger(now=100.0, stopping=False)
    assert (conn.state, conn.deadline) == (State.LINGERING, 100.0 + LINGER_SECONDS)
    assert conn.drain_room() == LINGER_MAX_BYTES
    conn.drained = LINGER_MAX_BYTES - 1
    assert conn.drain_room() == 1
    conn.drained = LINGER_MAX_BYTES + 10
    assert conn.drain_room() == 0
    assert conn.expired() is Step.CLOSE
    conn.linger(now=100.0, stopping=True)
    assert conn.deadline == 100.0 + STOP_LINGER_SECONDS and conn.drained == 0


def test_a_closed_connection_has_no_deadline_and_no_buffer():
    conn = new()
    feed(conn, GET[:5], now=100.0)
    conn.close()
    assert (conn.state, conn.deadline, conn.buf) == (State.CLOSED, math.inf, bytearray())
    assert conn.expired() is None


# ---- the deadline heap -----------------------------------------------------------------


class Item:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline


def test_due_items_come_soonest_first_and_only_once_their_deadline_passed():
    heap: Deadlines[Item] = Deadlines()
    late, early, later = Item(30.0), Item(10.0), Item(40.0)
    for item in (late, early, later):
        heap.file(item, live=3)
    assert heap.wait(now=0.0) == 10.0
    assert list(heap.due(now=9.9)) == []
    assert list(heap.due(now=30.0)) == [early, late]
    assert heap.wait(now=35.0) == 5.0
    assert heap.wait(now=50.0) == 0.0
    assert list(heap.due(now=50.0)) == [later]
    assert heap.wait(now=50.0) is None


def test_a_moved_deadline_leaves_an_outdated_entry_that_is_skipped():
    heap: Deadlines[Item] = Deadlines()
    item = Item(10.0)
    heap.file(item, live=1)
    item.deadline = 20.0
    heap.file(item, live=1)
    assert list(heap.due(now=15.0)) == []  # the entry for 10.0 is outdated
    assert list(heap.due(now=20.0)) == [item]
    closed = Item(10.0)
    heap.file(closed, live=1)
    closed.deadline = math.inf  # closed: every entry of it is outdated
    assert list(heap.due(now=100.0)) == []


def test_outdated_entries_are_dropped_once_they_outnumber_the_live_ones():
    heap: Deadlines[Item] = Deadlines()
    item = Item(0.0)
    for step in range(1000):
        item.deadline = float(step)
        heap.file(item, live=1)
    assert len(heap) <= 2 * 1 + 64 + 1
    assert list(heap.due(now=10_000.0)) == [item]


def test_an_item_filed_again_while_due_items_are_taken_is_not_taken_twice():
    heap: Deadlines[Item] = Deadlines()
    items = [Item(float(i)) for i in range(5)]
    for item in items:
        heap.file(item, live=5)
    taken = []
    for item in heap.due(now=10.0):
        taken.append(item)
        item.deadline = 12.0  # a 408 moves it to lingering
        heap.file(item, live=5)
    assert taken == items
    assert list(heap.due(now=11.0)) == []
    assert list(heap.due(now=12.0)) == items


# ---- what gunicorn's parser reads ------------------------------------------------------


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_the_parser_reads_the_buffer_first_and_then_the_socket(pair):
    left, right = pair
    source = ReplaySource(left)
    source.replay(b"buffered")
    right.sendall(b"late")
    assert source.recv(5) == b"buffe"
    assert source.recv(100) == b"red"
    assert source.recv(100) == b"late"


def test_a_truncated_request_ends_where_the_buffer_does(pair):
    left, right = pair
    source = ReplaySource(left)
    source.replay(b"head", truncated=True)
    right.sendall(b"rest of a refused body")
    assert source.recv(100) == b"head"
    assert source.recv(100) == b""  # never the socket: the refused rest is not read


def test_what_the_parser_left_comes_back_for_the_next_request(pair):
    left, _right = pair
    source = ReplaySource(left)
    source.replay(GET + b"GET /next")
    assert source.recv(len(GET)) == GET
    assert source.take_rest() == b"GET /next"
    assert source.take_rest() == b""
