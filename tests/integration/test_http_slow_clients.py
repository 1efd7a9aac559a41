"""Slow, silent and oversized clients against the real daemon's HTTP worker (issue 11, item 6).

The HTTP worker gives a request thread only a whole request, so clients that trickle
their head or send nothing must not delay anybody else, and are closed at their deadline.
These tests run on SQLite only: the HTTP worker does not touch the store.
"""

from __future__ import annotations

import json
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import wait_submits

pytestmark = pytest.mark.sqlite_only

READ_TIMEOUT = 4.0  # http.request_read_timeout of these daemons
SLOW_HEAD = (
    b"POST /sms HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    b"X-Mitto-API-Key: " + API_KEY.encode() + b"\r\nContent-Length: 60\r\n\r\n"
)
SEND = {"from": "Shop", "to": "41791234567", "text": "fast lane"}


@pytest.fixture
def gateway(sim, start_gateway) -> GatewayProcess:
    return start_gateway(
        sim.port, http={"request_read_timeout": READ_TIMEOUT, "max_body_bytes": 4096}
    )


class Trickler:
    """Clients that each send SLOW_HEAD one byte every 0.5-1 s, from one thread.

    A client stops sending once the server has answered or closed (its socket is
    readable), as a real one would; `readable_at` records when that happened.
    """

    def __init__(self, socks: list[socket.socket], seed: int = 11) -> None:
        self.socks = socks
        self.rng = random.Random(seed)
        self.sent = dict.fromkeys(socks, 0)
        self.readable_at: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        now = time.monotonic()
        due = dict.fromkeys(self.socks, now)
        with selectors.DefaultSelector() as watch:
            for sock in self.socks:
                watch.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set() and due:
                for key, _ in watch.select(timeout=0.05):
                    watch.unregister(key.fileobj)
                    self.readable_at[key.fileobj] = time.monotonic()
                    due.pop(key.fileobj, None)
                now = time.monotonic()
                for sock, at in list(due.items()):
                    if at <= now:
                        self._send_one(sock, due, now)

    def _send_one(self, sock: socket.socket, due: dict[socket.socket, float], now: float) -> None:
        if self.sent[sock] >= len(SLOW_HEAD):
            due.pop(sock)
            return
        try:
            sock.send(SLOW_HEAD[self.sent[sock] : self.sent[sock] + 1])
        except OSError:
            due.pop(sock)
            return
        self.sent[sock] += 1
        due[sock] = now + self.rng.uniform(0.5, 1.0)


def connect_many(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def read_until_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """Everything each socket receives until the server closes it; fails at `timeout`."""
    received = {sock: b"" for sock in socks}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as watch:
        for sock in socks:
            watch.register(sock, selectors.EVENT_READ)
        while watch.get_map() and time.monotonic() < deadline:
            for key, _ in watch.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)
                except ConnectionResetError:
                    data = b""
                received[key.fileobj] += data
                if not data:
                    watch.unregister(key.fileobj)
        open_left = len(watch.get_map())
    assert open_left == 0, f"{open_left} connections still open after {timeout} s"
    return received


def timed(call: Callable[[], object]) -> float:
    """Seconds `call` took; it must return something truthy (a success)."""
    started = time.perf_counter()
    assert call()
    return time.perf_counter() - started


@pytest.fixture
def closing() -> Iterator[list[socket.socket]]:
    """Sockets closed at the end of the test, whatever happens."""
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


def test_200_slow_and_200_silent_clients_do_not_delay_a_send_and_are_closed_at_the_deadline(
    gateway, sim, closing
):
    started = time.monotonic()
    slow = connect_many(gateway.port, 200)
    silent = connect_many(gateway.port, 200)
    closing += slow + silent
    with Trickler(slow) as trickler:
        wait_for(lambda: min(trickler.sent.values()) >= 2, timeout=5, what="2 bytes from each")
        sends, healths = [], []
        for _ in range(5):
            sends.append(timed(lambda: gateway.send(**SEND)["responseCode"] == 0))
            healths.append(timed(lambda: gateway.get("/healthz").status == 200))
        # they were all still hanging while the sends went through
        assert not trickler.readable_at, "a slow client was answered before its deadline"
        assert max(sends) < 1.0 and max(healths) < 1.0, (sends, healths)
        sim.wait_for(lambda s: s["submit_sm"] == 5)

        answers = read_until_closed(slow + silent, timeout=READ_TIMEOUT + 10)
    assert all(answers[sock] == b"" for sock in silent)
    timeouts = [answers[sock] for sock in slow]
    assert all(a == b"" or a.startswith(b"HTTP/1.1 408 ") for a in timeouts), timeouts[:3]
    assert sum(a.startswith(b"HTTP/1.1 408 ") for a in timeouts) == 200
    assert b"request not complete within 4 s" in timeouts[0]
    assert max(trickler.sent.values()) < len(SLOW_HEAD)  # no head was ever whole
    # closed at the deadline: not before it, and not long after it
    answered = [trickler.readable_at[sock] - started for sock in slow]
    assert min(answered) > READ_TIMEOUT - 0.5 and max(answered) < READ_TIMEOUT + 5
    assert time.monotonic() - started < 30
    assert gateway.get("/healthz").status == 200


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data`, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize(("path", "body_start"), [("/sms", b'{"error":'), ("/sms.xml", b"<")])
def test_a_content_length_over_the_limit_is_answered_413_before_the_body_is_sent(
    gateway, path, body_start
):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n".encode()
        + b"X-Mitto-API-Key: " + API_KEY.encode() + b"\r\nContent-Length: 5000\r\n\r\n"
    )  # fmt: skip
    started = time.monotonic()
    answer = raw_exchange(gateway.port, head)  # the body never comes
    assert time.monotonic() - started < 2.0
    assert answer.startswith(b"HTTP/1.1 413 ") and b"\r\nConnection: close\r\n" in answer
    body = answer.split(b"\r\n\r\n", 1)[1]  # in the endpoint's format (JSON or XML)
    assert body.startswith(body_start) and b"request body larger than 4096 bytes" in body


def test_a_chunked_body_growing_past_the_limit_is_413_before_it_ends(gateway, sim):
    head = (
        b"POST /sms HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"X-Mitto-API-Key: " + API_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b'{"from":"Shop","to":"41791234567","text":"' + b"x" * 5000 + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:3000], body[3000:]))
    answer = raw_exchange(gateway.port, head + chunks)  # no last chunk: only the limit ends it
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sim.stats()["submit_sm"] == 0


def test_oversized_heads_are_414_and_431(gateway):
    line = raw_exchange(gateway.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n")
    assert line.startswith(b"HTTP/1.1 414 ")
    fields = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 8000) for i in range(110))
    head = raw_exchange(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: g\r\n" + fields)
    assert head.startswith(b"HTTP/1.1 431 ")


def read_response(sock: socket.socket) -> tuple[int, dict]:
    """One HTTP/1.1 response with a Content-Length body from a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length, "read past the response: pipelined bytes would be lost"
    return int(lines[0].split()[1]), json.loads(body)


def post(text: str, *extra: bytes) -> bytes:
    body = json.dumps({**SEND, "text": text}).encode()
    return (
        b"POST /sms HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"X-Mitto-API-Key: " + API_KEY.encode() + b"\r\n" + b"".join(extra)
        + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


def test_pipelined_requests_on_one_keep_alive_connection_are_all_answered(gateway, sim):
    first, second, third = post("one"), post("two"), post("three")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        # two whole requests and half of a third in one write; the rest after two answers
        sock.sendall(first + second + third[:20])
        answers = [read_response(sock), read_response(sock)]
        sock.sendall(third[20:])
        answers.append(read_response(sock))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [body["responseCode"] for _, body in answers] == [0, 0, 0]
    texts = {bytes.fromhex(s["short_message"]) for s in wait_submits(sim, 3)}
    assert texts == {b"one", b"two", b"three"}  # GSM 7-bit, unpacked: ASCII for these


def test_expect_100_continue_is_answered_before_the_body(gateway, sim):
    request = post("continued", b"Expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(head + b"\r\n\r\n")
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, answer = read_response(sock)
    assert status == 200 and answer["responseCode"] == 0
    sim.wait_for(lambda s: s["submit_sm"] == 1)


def test_at_the_connection_cap_new_clients_wait_for_a_slot_and_are_then_served(
    sim, start_gateway, closing
):
    """http.max_connections (per HTTP worker): beyond it the kernel's backlog holds new
    connections; the silent ones holding the slots leave at their deadline and the waiting
    send goes on. One worker, so the 8 silent connections surely fill its cap."""
    gateway = start_gateway(
        sim.port, http={"workers": 1, "request_read_timeout": 2.0, "max_connections": 8}
    )
    silent = connect_many(gateway.port, 8)
    closing += silent
    started = time.monotonic()
    assert gateway.send(**SEND)["responseCode"] == 0
    waited = time.monotonic() - started
    assert 1.0 < waited < 6.0, waited  # the slots freed at the silent clients' 2 s deadline
    wait_submits(sim, 1)
    for sock in silent:
        sock.settimeout(5)
        assert sock.recv(1) == b""  # closed by the server, unanswered
