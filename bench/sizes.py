"""How big each scenario is: the full bench and the few-second smoke mode."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Sizes:
    """Counts and bounds; every wait in the harness derives its deadline from these."""

    ceiling_count: int = 200_000  # submit_sm of the raw client
    stack_count: int = 20_000  # POST /sms to the bare app at 16 clients
    single_count: int = 20_000  # POST /sms at 16 clients (SQLite)
    # PostgreSQL sends at a third of SQLite's rate: 20,000 ran past the deadline on a slow day
    postgres_count: int = 10_000
    single64_count: int = 10_000  # POST /sms at 64 clients
    single1_count: int = 2_000  # POST /sms at 1 client
    wan_count: int = 10_000  # POST /sms at 16 clients, 50 ms to the SMSC
    throttled_count: int = 9_000  # a backlog through an SMSC taking 300/s: 30 s
    throttle_settle: float = 10.0  # seconds to find the SMSC's rate before it is measured
    disk_count: int = 10_000  # delivered messages measured at rest, per backend
    calibration_count: int = 20_000  # requests against the do-nothing server
    bulk_calls: int = 20  # POST /smsbulk calls of `per_call` receivers
    bulk_connections: int = 4  # spread over the HTTP workers (least busy accepts)
    per_call: int = 1_000
    idle_settle: float = 3.0  # seconds after ready before the idle measurement
    idle_seconds: float = 10.0  # the idle measurement itself
    backlog_count: int = 100_000  # messages queued while the simulator holds responses
    outage: float = 2.0  # seconds the simulator stays down in the recovery scenario
    min_rate: float = 200.0  # slowest rate (msg/s) a wait allows for before giving up

    def deadline(self, messages: int) -> float:
        """Seconds a wait for `messages` may take before the run is declared failed."""
        return 30.0 + messages / self.min_rate


FULL = Sizes()
SMOKE = Sizes(
    ceiling_count=5_000,
    stack_count=300,
    single_count=300,
    postgres_count=300,
    single64_count=200,
    single1_count=50,
    wan_count=300,
    throttled_count=1_000,
    throttle_settle=1.0,
    disk_count=300,
    calibration_count=500,
    bulk_calls=2,
    bulk_connections=2,
    per_call=500,
    idle_settle=0.5,
    idle_seconds=1.0,
    backlog_count=1_000,
    outage=0.3,
)


def scaled(sizes: Sizes, factor: float) -> Sizes:
    """All message counts times `factor` (at least one call each); bounds and times
    unchanged."""
    return replace(
        sizes,
        ceiling_count=max(1000, int(sizes.ceiling_count * factor)),
        stack_count=max(32, int(sizes.stack_count * factor)),
        single_count=max(32, int(sizes.single_count * factor)),
        postgres_count=max(32, int(sizes.postgres_count * factor)),
        single64_count=max(64, int(sizes.single64_count * factor)),
        single1_count=max(10, int(sizes.single1_count * factor)),
        wan_count=max(32, int(sizes.wan_count * factor)),
        throttled_count=max(sizes.per_call, int(sizes.throttled_count * factor)),
        disk_count=max(100, int(sizes.disk_count * factor)),
        calibration_count=max(100, int(sizes.calibration_count * factor)),
        bulk_calls=max(1, int(sizes.bulk_calls * factor)),
        backlog_count=max(sizes.per_call, int(sizes.backlog_count * factor)),
    )
