"""The account-wide submit rate limit of --throttle-rate: a token bucket.

Real providers cap an account at N submit_sm per second and answer the excess
ESME_RTHROTTLED, whatever the window; a client with an adaptive window must find
that rate. Pure: the caller passes the (event loop's monotonic) time in, so tests
drive it with plain numbers.
"""

from __future__ import annotations

# The bucket holds a tenth of a second of the rate. Providers' limiters let a short
# burst through (a client's window after a quiet spell) but measure over short spans,
# so a window too large for the rate is refused within a fraction of a second, not
# after a whole second's excess: that is what an adaptive window has to react to.
BURST_SECONDS = 0.1


class TokenBucket:
    """`rate` tokens a second, at most max(1, rate * BURST_SECONDS) held; starts full."""

    __slots__ = ("_last", "_tokens", "capacity", "rate")

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self.rate = rate
        self.capacity = max(1.0, rate * BURST_SECONDS)
        self._tokens = self.capacity
        # Time of the last take; None until the first, which therefore finds the bucket
        # full: the same as starting the clock at creation, as refills stop at capacity.
        self._last: float | None = None

    def take(self, now: float) -> bool:
        """Spend one token at time `now` (seconds, monotonic): False when less than one."""
        tokens = self.tokens(now)
        self._last = now
        allowed = tokens >= 1.0
        self._tokens = tokens - 1.0 if allowed else tokens
        return allowed

    def tokens(self, now: float) -> float:
        """The tokens held at `now`, refilled since the last take (spends nothing)."""
        if self._last is None:
            return self._tokens
        return min(self.capacity, self._tokens + (now - self._last) * self.rate)
