"""How much one session may submit now: its window, and its pace after throttling.

Sans-IO: no socket, no thread, no clock of its own; every call is given `now`. The link
(link.py) calls it under its window lock and does what it says.

A fixed window of W over a round trip of R caps a session at W/R submits per second, so
the adaptive window follows TCP's congestion control (docs/architecture.md, "Submit flow
control"):

- It starts at `smpp.window`. Below `threshold`, each success adds one, so the window
  doubles per round trip (slow start); above it, a window's worth of successes adds one,
  so it grows by one per round trip.
- Only a success answered in time (within half `smpp.response_timeout`), for a submit
  written while at least half the window was in use, grows it: a window that is not
  the limit says nothing about what the SMSC can take (RFC 7661's rule), so an idle
  session does not inflate it.
- ESME_RTHROTTLED and ESME_RMSGQFUL halve it and end slow start there; a response
  timeout drops it to 1 (slow start back to half the old size). Answers to submits
  written before the last cut do not cut again: one cut per round trip.
- It stays within [1, `smpp.window_max`].

Additive increase with multiplicative decrease converges (Chiu and Jain, 1989): the window
rises until the SMSC pushes back, falls by half, and oscillates below the SMSC's limit.

A window cannot slow a session whose SMSC answers in a millisecond (a window of 1 is then
still 1,000/s), so a throttle also sets a pace: PACE_CUT times the rate the session was
sending at (or times the current pace). While the pace is what holds submits back and nothing
throttles, it grows PACE_GROWTH per second; from PROBE_AFTER seconds after the last cut,
it doubles per second (whatever throttled may be gone). Each session of an account paces
itself; together they serve one queue, so only their sum matters.

`window_mode = fixed` keeps the window at `smpp.window` and pauses `throttle_pause`
after a throttle instead of pacing (for SMSCs that want exactly that).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gateway.smpp import codec

PACE_CUT = 0.9  # a throttle sets the pace to this share of the rate that caused it
PACE_GROWTH = 1.05  # per second while the pace is the limit: back to the cut rate in ~2 s
PROBE_AFTER = 10.0  # seconds without a throttle after which the pace doubles per second
PACE_BURST = 0.05  # seconds of pace a session may write at once
RATE_SPAN = 1.0  # seconds over which `recent_rate` counts submits
MIN_SPAN = 0.1  # the shortest span a sending rate is measured over
CONGESTION = frozenset({codec.ESME_RTHROTTLED, codec.ESME_RMSGQFUL})


@dataclass(frozen=True)
class FlowSettings:
    """The [smpp] settings flow control reads."""

    window: int
    window_max: int
    adaptive: bool
    response_timeout: float
    throttle_pause: float


class SubmitFlow:
    """One session's window and pace; outlives its links, so a rebind keeps what it learnt."""

    def __init__(self, settings: FlowSettings, now: float) -> None:
        self._s = settings
        self._size = settings.window
        self._threshold = settings.window_max
        self._acked = 0  # successes since the window last grew above the threshold
        self._last_cut = -1e18  # when the window or the pace was last cut
        self._pace: float | None = None  # submits per second; None: unpaced
        self._tokens = 0.0
        self._pace_limited = False  # the last room() was held back by the pace
        self._refilled = now
        self._paused_until = 0.0  # fixed mode: throttle_pause
        self._sent: deque[tuple[float, int]] = deque()
        self._sent_count = 0
        self.throttled = 0
        self.timeouts = 0

    # -- what the link reads ---------------------------------------------------------

    @property
    def window(self) -> int:
        return self._size

    @property
    def pace(self) -> float | None:
        return self._pace

    def room(self, in_flight: int, now: float) -> tuple[int, float]:
        """(submits that may be written now, seconds to wait when none may)."""
        if now < self._paused_until:
            return 0, self._paused_until - now
        room = self.window - in_flight
        if room <= 0 or self._pace is None:
            return max(0, room), 0.0
        self._refill(now)
        paced = int(self._tokens)
        self._pace_limited = paced < room
        if paced <= 0:
            return 0, (1.0 - self._tokens) / self._pace
        return min(room, paced), 0.0

    def recent_rate(self, now: float) -> float:
        """Submits written per second over the last RATE_SPAN seconds."""
        self._forget_sent(now)
        return self._sent_count / RATE_SPAN

    # -- what the link reports -------------------------------------------------------

    def sent(self, count: int, now: float) -> None:
        """`count` submit_sm were written at `now`."""
        self._sent.append((now, count))
        self._sent_count += count
        self._forget_sent(now)
        if self._pace is not None:
            self._tokens -= count

    def answered(self, status: int, sent_at: float, in_use: int, now: float) -> None:
        """A submit written at `sent_at`, when `in_use` submits were unanswered (itself
        included), was answered `status`."""
        if status in CONGESTION:
            self.throttled += 1
            self._congested(sent_at, now)
        elif self._in_time(status, sent_at, now) and in_use * 2 >= self.window:
            self._grow()

    def timed_out(self, now: float) -> None:
        """A submit went unanswered for response_timeout (the link is being dropped)."""
        self.timeouts += 1
        if self._s.adaptive:
            self._threshold = max(1, self._size // 2)
            self._size = 1
            self._last_cut = now

    # -- the rule --------------------------------------------------------------------

    def _in_time(self, status: int, sent_at: float, now: float) -> bool:
        return status == codec.ESME_ROK and now - sent_at <= self._s.response_timeout / 2

    def _grow(self) -> None:
        if not self._s.adaptive:
            return
        if self._size >= self._threshold:  # one per window of successes
            self._acked += 1
            if self._acked < self._size:
                return
        self._acked = 0
        self._size = min(self._s.window_max, self._size + 1)

    def _congested(self, sent_at: float, now: float) -> None:
        if not self._s.adaptive:
            self._paused_until = now + self._s.throttle_pause
            return
        if sent_at < self._last_cut:
            return  # written before the last cut: that cut answered it already
        self._last_cut = now
        self._size = max(1, self._size // 2)
        self._threshold = self._size
        self._acked = 0
        rate = self._sending_rate(now)
        if self._pace is None:
            basis, self._tokens, self._refilled = rate, 0.0, now
        else:
            self._refill(now)
            basis = min(self._pace, max(rate, 1.0))
        self._pace = max(1.0, PACE_CUT * basis)
        self._tokens = min(self._tokens, 1.0)

    def _refill(self, now: float) -> None:
        assert self._pace is not None
        elapsed = max(0.0, now - self._refilled)
        self._refilled = now
        if self._pace_limited and elapsed:
            growth = 2.0 if now - self._last_cut >= PROBE_AFTER else PACE_GROWTH
            self._pace *= growth**elapsed
        burst = max(1.0, self._pace * PACE_BURST)
        self._tokens = min(burst, self._tokens + elapsed * self._pace)

    def _sending_rate(self, now: float) -> float:
        """The rate that met the throttle: the submits of the last RATE_SPAN over the time
        from the first of them to the last (at least MIN_SPAN). Over a whole second, or
        up to now (a round trip later), a burst (a window let out at once) would count
        as a slow rate."""
        self._forget_sent(now)
        if not self._sent:
            return 0.0
        return self._sent_count / max(MIN_SPAN, self._sent[-1][0] - self._sent[0][0])

    def _forget_sent(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - RATE_SPAN:
            self._sent_count -= self._sent.popleft()[1]
