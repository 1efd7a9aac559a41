"""One client connection's life, decided from bytes and clock values alone (no I/O).

Why: the worker (worker.py) owns the sockets, the poller and the request threads; what a
connection does next (wait for more bytes, have its request served, be refused, be
closed) and by when is decided here, so it is tested with bytes and times alone, as
h11's `_connection.py` is. framing.py says where a request ends; this adds the state and
the deadlines around it:

- a new connection (TLS handshake included) must send its first byte within
  `request_read` seconds, and each request must be whole within `request_read` of its
  first byte; a request cut off by its deadline is refused with 408, a silent
  connection is closed;
- between requests a kept-alive connection may idle for `keepalive`;
- after its answer a closing connection lingers (drains input) briefly, so the client
  reads the answer instead of a reset;
- while the worker stops, idle connections and lingering get shorter deadlines.

The worker reads into `buf` and calls the methods below; after one that changes
`deadline` it (re)files the connection in its Deadlines heap (deadlines.py).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from gateway.http_worker.framing import FrameLimits, Refusal, RequestScanner, Verdict

LINGER_SECONDS = 2.0  # a closing connection's input is drained this long at most
LINGER_MAX_BYTES = 1_048_576  # ... and this much at most
STOP_LINGER_SECONDS = 0.2  # stopping: the worker should not wait on clients that linger
STOP_IDLE_LINGER = 2.0  # idle connections stay this long after SIGTERM (gunicorn's value)
BUFFER_SLACK = 65_536  # read this far past a whole request (pipelined bytes, chunk lines)


class State(enum.Enum):
    HANDSHAKE = "handshake"  # TLS handshake under way (main loop)
    READING = "reading"  # buffering a request, or idle between requests (main loop)
    IN_THREAD = "in-thread"  # a request thread owns the connection
    LINGERING = "lingering"  # answered and half-closed; draining input until EOF
    CLOSED = "closed"


class Step(enum.Enum):
    """What the worker does with the bytes buffered so far (besides a Refusal)."""

    WAIT = "wait"  # the request is not whole yet
    CONTINUE = "continue"  # answer `100 Continue`, then wait for the body
    SERVE = "serve"  # a whole request: a request thread serves it
    CLOSE = "close"  # the client left before its request was whole


@dataclass(frozen=True)
class Timeouts:
    """The deadlines the worker's settings give (seconds)."""

    request_read: float  # the first byte; then the whole request from its first byte
    keepalive: float  # idle between requests (gunicorn's `keepalive`)


class Connection:
    """One connection's protocol state: its buffer, where it stands, and its deadline.

    Only the worker's main loop calls it, except that a request thread owns the connection
    while `state` is IN_THREAD."""

    def __init__(
        self, limits: FrameLimits, timeouts: Timeouts, now: float, handshake: bool = False
    ) -> None:
        self.limits = limits
        self.timeouts = timeouts
        self.state = State.HANDSHAKE if handshake else State.READING
        self.buf = bytearray()
        self.scanner = RequestScanner(limits)
        self.started = False  # a byte of the current request has arrived
        self.deadline = now + timeouts.request_read
        self.drained = 0  # bytes drained while lingering
        # what may be buffered: the largest request the limits allow, and some slack
        self.max_buffer = limits.head + 2 * limits.body + BUFFER_SLACK

    @property
    def full(self) -> bool:
        """The buffer holds more than any request the limits allow: read no further."""
        return len(self.buf) > self.max_buffer

    def handshake_done(self) -> None:
        """The TLS handshake completed: the first request is read under the same deadline."""
        self.state = State.READING

    def received(self, now: float) -> bool:
        """Bytes were appended to `buf`. True when they are the request's first: its own
        deadline starts now (the worker must file the new deadline)."""
        if not self.buf or self.started:
            return False
        self.started = True
        self.deadline = now + self.timeouts.request_read
        return True

    def next_step(self, eof: bool) -> Step | Refusal:
        """What the buffered bytes amount to; `eof`: the client has sent all it will.

        A Refusal with `by_application` is served with what has arrived and nothing after
        it (the application answers in the endpoint's format); any other the worker
        answers itself."""
        verdict = self.scanner.scan(self.buf) if self.buf else Verdict.INCOMPLETE
        if isinstance(verdict, Refusal):
            return verdict
        if verdict is Verdict.COMPLETE:
            return Step.SERVE
        if eof:
            return Step.CLOSE
        return Step.CONTINUE if verdict is Verdict.CONTINUE else Step.WAIT

    def hand_over(self) -> bytes:
        """A request thread takes the connection with the buffered bytes (its parser
        reads them; what it leaves comes back through `next_request`)."""
        self.state = State.IN_THREAD
        data = bytes(self.buf)
        self.buf = bytearray()
        return data

    def next_request(self, rest: bytes, now: float, stopping: bool) -> None:
        """The request was answered and the connection kept: buffer the next one, `rest`
        being its first bytes (pipelined; maybe none). An idle connection may wait for
        `keepalive`, at most STOP_IDLE_LINGER while the worker stops."""
        self.state = State.READING
        self.buf = bytearray(rest)
        self.scanner = RequestScanner(self.limits)
        self.started = bool(rest)
        wait = self.timeouts.request_read if rest else self.timeouts.keepalive
        if stopping and not rest:
            wait = min(wait, STOP_IDLE_LINGER)
        self.deadline = now + wait

    def linger(self, now: float, stopping: bool) -> None:
        """Answered and half-closed: drain the input until EOF or the deadline."""
        self.state = State.LINGERING
        self.drained = 0
        self.deadline = now + (STOP_LINGER_SECONDS if stopping else LINGER_SECONDS)

    def drain_room(self) -> int:
        """How many more bytes lingering may drain before the connection is closed."""
        return max(0, LINGER_MAX_BYTES - self.drained)

    def stop(self, now: float) -> bool:
        """The worker stops: a connection idle between requests waits STOP_IDLE_LINGER at
        most; a request under way keeps its deadline. True when the deadline moved."""
        if self.state is not State.READING or self.started:
            return False
        deadline = min(self.deadline, now + STOP_IDLE_LINGER)
        moved, self.deadline = deadline != self.deadline, deadline
        return moved

    def expired(self) -> Refusal | Step | None:
        """Its deadline has passed: a 408 for a request under way, CLOSE for a silent,
        idle, handshaking or lingering connection, None while a thread has it."""
        if self.state in (State.IN_THREAD, State.CLOSED):
            return None
        if self.state is State.READING and self.started:
            message = f"request not complete within {self.timeouts.request_read:g} s"
            return Refusal(408, "Request Timeout", message)
        return Step.CLOSE

    def close(self) -> None:
        """Closed: no deadline any more (its entries in the heap are void)."""
        self.state = State.CLOSED
        self.buf = bytearray()
        self.deadline = math.inf
