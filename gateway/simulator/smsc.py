"""Shared SMSC state: credentials, sessions, message ids, stored submits, receipts, counters.

All mutable simulator state lives in one `Smsc` object shared by every connection
and by the control server, so one process can host independent simulators and
tests can reset it without restarting. The per-connection protocol lives in
`gateway.simulator.session`.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from gateway.simulator.config import SimConfig
from gateway.simulator.deliver import ReceiptJob, mo_bodies, receipt_body, receipt_id
from gateway.simulator.hostile import GARBAGE
from gateway.simulator.pdu import (
    ESME_RBINDFAIL,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RTHROTTLED,
    ESME_RX_P_APPN,
    ShortMessage,
    parse_sm,
    status_name,
)
from gateway.simulator.pdulog import PduLog
from gateway.simulator.ratelimit import TokenBucket

# Bind modes as bit flags, so "can submit" is `mode & TX` and "can receive" `mode & RX`.
TX = 1
RX = 2
TRX = TX | RX
MODE_NAMES = {0: "unbound", TX: "transmitter", RX: "receiver", TRX: "transceiver"}


@dataclass(slots=True, eq=False)
class Delivery:
    """A deliver_sm the SMSC owes a client: kept until a deliver_sm_resp with status 0.

    `kind` is "receipt", "mo" or "garbage" (hostile mode); `attempts` counts the sends.
    """

    system_id: str
    kind: str
    body: bytes
    attempts: int = 0


class Peer(Protocol):
    """What the SMSC needs from a client connection (see session.SmppConnection)."""

    conn_id: int
    mode: int
    system_id: str

    def send_pdu(self, command: int, body: bytes) -> int: ...
    def send_delivery(self, delivery: Delivery) -> None: ...
    def close(self) -> None: ...
    def flush_held(self) -> None: ...
    def release_trickle(self) -> None: ...
    def reschedule_enquire(self) -> None: ...
    @property
    def pending_responses(self) -> int: ...
    @property
    def unacked_deliveries(self) -> int: ...


@dataclass(slots=True)
class Counters:
    """Monotonic counters behind GET /stats (gauges are computed, not stored)."""

    binds: int = 0
    bind_failed: int = 0
    submit_sm: int = 0
    throttled: int = 0
    failed: int = 0
    dropped: int = 0
    rejected: int = 0
    deliver_sm_sent: int = 0
    receipts_sent: int = 0
    mo_sent: int = 0
    deliver_sm_resp: dict[str, int] = field(default_factory=dict)
    deliver_resent: int = 0
    deliver_requeued: dict[str, int] = field(default_factory=dict)  # by reason
    deliver_dropped: int = 0
    deliver_resp_unknown: int = 0
    deliver_resp_ignored: int = 0
    garbage_sent: int = 0
    hostile: dict[str, int] = field(default_factory=dict)  # times each mode fired
    slow_bytes: int = 0
    enquire_link: int = 0
    enquire_link_sent: int = 0
    enquire_link_resp: int = 0
    data_sm_resp: int = 0
    unbind: int = 0
    unbind_resp: int = 0
    generic_nack: int = 0
    generic_nack_received: int = 0
    connections_opened: int = 0
    connections_closed: int = 0


class Smsc:
    """The simulated SMSC shared by all connections of one simulator instance."""

    def __init__(self, cfg: SimConfig, log: PduLog | None = None) -> None:
        self.cfg = cfg
        self.log = log
        self.stats = Counters()
        self.faults = False
        self.hostile = ""  # the per-submit hostile mode in force, "" when none
        self.slow = False
        self._hostile_seen = 0
        self._garbage_next = 0
        self._retry_waiting = 0
        self._next_id = cfg.first_id
        self._next_conn = 0
        self._rng = random.Random(cfg.seed)
        self._mo_ref = self._rng.randrange(1, 0xFFFF)
        self._submits: list[tuple[str, int, int, float, bytes]] = []
        self._submits_base = 0
        self._connections: set[Peer] = set()
        self._bound: set[Peer] = set()
        self._receivers: dict[str, list[Peer]] = {}
        self._rr = 0
        self._queue: dict[str, deque[Delivery]] = {}
        self._receipts_outstanding = 0
        self._throttle_seen = 0
        self._fail_seen = 0
        self._bucket = _bucket(cfg.throttle_rate)
        self._refuse_until = time.monotonic() + cfg.refuse_binds_for
        self._update_faults()

    # -- connections and binds -------------------------------------------------

    def event(self, message: str) -> None:
        """One human line per session event on stderr (never per PDU)."""
        print(f"smsc-sim: {message}", file=sys.stderr, flush=True)

    def add_connection(self, conn: Peer) -> int:
        self._next_conn += 1
        self._connections.add(conn)
        self.stats.connections_opened += 1
        return self._next_conn

    def remove_connection(self, conn: Peer) -> None:
        if conn in self._connections:
            self._connections.discard(conn)
            self.unbound(conn)
            self.stats.connections_closed += 1

    def check_bind(self, system_id: str, password: str) -> int:
        """0 to accept, else the bind_*_resp command_status."""
        cfg = self.cfg
        if time.monotonic() < self._refuse_until:
            status = ESME_RBINDFAIL
        elif system_id != cfg.system_id:
            status = ESME_RINVSYSID
        elif password != cfg.password:
            status = ESME_RINVPASWD
        elif len(self._bound) >= cfg.max_sessions:
            status = ESME_RBINDFAIL
        else:
            return 0
        self.stats.bind_failed += 1
        return status

    def bound(self, conn: Peer) -> None:
        """Register a successful bind; a receiver-capable bind gets queued deliveries."""
        self._bound.add(conn)
        self.stats.binds += 1
        if conn.mode & RX:
            self._receivers.setdefault(conn.system_id, []).append(conn)
            queue = self._queue.get(conn.system_id)
            while queue:
                self._send(conn, queue.popleft())

    def unbound(self, conn: Peer) -> None:
        self._bound.discard(conn)
        receivers = self._receivers.get(conn.system_id)
        if receivers and conn in receivers:
            receivers.remove(conn)

    # -- submits ---------------------------------------------------------------

    def submit_fault(self, now: float) -> int:
        """Status forced by --throttle-rate / --throttle-every / --fail-every, or 0.

        `now` is the event loop's time. The rate limit comes first, as a provider's does
        at the door: a submit it refuses is not counted by the other two.
        """
        cfg = self.cfg
        bucket = self._bucket
        if bucket is not None and not bucket.take(now):
            self.stats.throttled += 1
            return ESME_RTHROTTLED
        if cfg.throttle_every:
            self._throttle_seen += 1
            if self._throttle_seen % cfg.throttle_every == 0:
                self.stats.throttled += 1
                return ESME_RTHROTTLED
        if cfg.fail_every:
            self._fail_seen += 1
            if self._fail_seen % cfg.fail_every == 0:
                self.stats.failed += 1
                return cfg.fail_status
        return 0

    def accept(
        self, conn: Peer, seq: int, sm: ShortMessage, body: bytes
    ) -> tuple[str, ReceiptJob | None]:
        """Assign the next message id, store the submit, and prepare its receipt."""
        number = self._next_id
        self._next_id = number + 1
        cfg = self.cfg
        message_id = str(number) if cfg.id_format == "dec" else format(number, "x")
        now = time.time()
        self.stats.submit_sm += 1
        if cfg.keep_submits:
            self._store((message_id, conn.conn_id, seq, now, body))
        if not sm.registered_delivery & 0x03 or cfg.receipt_delay < 0:
            return message_id, None
        name, err = self._draw_state()
        rid = receipt_id(number, cfg.id_format, cfg.receipt_id_format)
        self._receipts_outstanding += 1
        return message_id, ReceiptJob(conn.system_id, rid, now, sm, name, err)

    def _store(self, record: tuple[str, int, int, float, bytes]) -> None:
        """Keep the latest `keep_submits` (dropping in halves keeps this amortised O(1))."""
        submits = self._submits
        submits.append(record)
        keep = self.cfg.keep_submits
        if len(submits) >= 2 * keep:
            drop = len(submits) - keep
            del submits[:drop]
            self._submits_base += drop

    def response_hold(self) -> float:
        """Seconds to hold a submit_sm_resp: --response-delay plus a --response-jitter draw.

        Drawn from the seeded generator, so a run with the same seed is repeatable.
        """
        cfg = self.cfg
        delay = max(cfg.response_delay, 0.0)
        if cfg.response_jitter > 0:
            delay += self._rng.uniform(0.0, cfg.response_jitter)
        return delay

    def _draw_state(self) -> tuple[str, int]:
        states = self.cfg.receipt_states
        if len(states) == 1:
            return states[0].name, states[0].err
        chosen = self._rng.choices(states, weights=[s.weight for s in states])[0]
        return chosen.name, chosen.err

    # -- deliveries (receipts and MO) ------------------------------------------

    def schedule_receipt(self, job: ReceiptJob) -> None:
        """Send the receipt --receipt-delay seconds from now (its resp just went out)."""
        loop = asyncio.get_running_loop()
        loop.call_later(max(self.cfg.receipt_delay, 0.0), self.send_receipt, job)

    def send_receipt(self, job: ReceiptJob) -> None:
        body = receipt_body(job, time.time())
        self.deliver(Delivery(job.system_id, "receipt", body))

    def deliver(self, delivery: Delivery) -> bool:
        """deliver_sm to the next receiver-capable bind, or queue until one binds."""
        conn = self._pick_receiver(delivery.system_id)
        if conn is None:
            self._queue.setdefault(delivery.system_id, deque()).append(delivery)
            return False
        self._send(conn, delivery)
        return True

    def _pick_receiver(self, system_id: str) -> Peer | None:
        receivers = self._receivers.get(system_id)
        if not receivers:
            return None
        self._rr += 1
        return receivers[self._rr % len(receivers)]

    def _send(self, conn: Peer, delivery: Delivery) -> None:
        conn.send_delivery(delivery)
        stats = self.stats
        stats.deliver_sm_sent += 1
        delivery.attempts += 1
        if delivery.attempts > 1:
            stats.deliver_resent += 1
        elif delivery.kind == "receipt":
            stats.receipts_sent += 1
            self._receipts_outstanding -= 1
        elif delivery.kind == "mo":
            stats.mo_sent += 1
        else:
            stats.garbage_sent += 1

    def delivery_answered(self, delivery: Delivery, status: int) -> None:
        """A deliver_sm_resp came: 0 settles it, ESME_RX_P_APPN drops it, others retry."""
        if status == ESME_ROK:
            return
        if status == ESME_RX_P_APPN:
            self.stats.deliver_dropped += 1
            return
        self.redeliver(delivery, status_name(status))

    def redeliver(self, delivery: Delivery, reason: str) -> None:
        """Send it again after --redeliver-delay (fresh sequence number, any receiver)."""
        requeued = self.stats.deliver_requeued
        requeued[reason] = requeued.get(reason, 0) + 1
        self._retry_waiting += 1
        loop = asyncio.get_running_loop()
        loop.call_later(max(self.cfg.redeliver_delay, 0.0), self._redeliver_due, delivery)

    def _redeliver_due(self, delivery: Delivery) -> None:
        self._retry_waiting -= 1
        self.deliver(delivery)

    def mo(self, request: dict[str, Any]) -> dict[str, int]:
        """Inject a mobile-originated message; all parts go to the same bind.

        `skip_parts` (1-based part numbers) are never sent: a part lost in the network,
        for testing the receiver's reassembly timeout.
        """
        self._mo_ref = self._mo_ref % 0xFFFF + 1
        skipped = {int(n) for n in request.get("skip_parts", ())}
        bodies = [
            body
            for number, body in enumerate(mo_bodies(request, self._mo_ref), start=1)
            if number not in skipped
        ]
        system_id = str(request.get("system_id", self.cfg.system_id))
        conn = self._pick_receiver(system_id)
        for body in bodies:
            delivery = Delivery(system_id, "mo", body)
            if conn is None:
                self._queue.setdefault(system_id, deque()).append(delivery)
            else:
                self._send(conn, delivery)
        sent = len(bodies) if conn is not None else 0
        return {"sent": sent, "queued": len(bodies) - sent}

    # -- hostile modes (gateway/simulator/hostile.py) ---------------------------

    def hostile_fire(self) -> str:
        """The hostile mode if it fires on this submit_sm (every `hostile_every`-th), else ""."""
        self._hostile_seen += 1
        if self._hostile_seen % self.cfg.hostile_every:
            return ""
        mode = self.hostile
        self.stats.hostile[mode] = self.stats.hostile.get(mode, 0) + 1
        return mode

    def send_garbage(self, system_id: str) -> None:
        """One unreadable deliver_sm (the next of hostile.GARBAGE) to a receiver bind."""
        body = GARBAGE[self._garbage_next % len(GARBAGE)]
        self._garbage_next += 1
        self.deliver(Delivery(system_id, "garbage", body))

    # -- control ---------------------------------------------------------------

    def stats_view(self) -> dict[str, Any]:
        view = asdict(self.stats)
        view["bound_sessions"] = len(self._bound)
        view["connections"] = len(self._connections)
        view["receipts_pending"] = self._receipts_outstanding
        view["held_responses"] = sum(c.pending_responses for c in self._connections)
        view["queued_deliveries"] = sum(len(q) for q in self._queue.values())
        view["deliver_unacked"] = sum(c.unacked_deliveries for c in self._connections)
        view["deliver_retry_waiting"] = self._retry_waiting
        view["next_id"] = self._next_id
        return view

    def submits_view(self, since: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Decoded submits from absolute index `since`; `next` is where to continue."""
        start = max(since - self._submits_base, 0)
        end = len(self._submits) if limit is None else min(len(self._submits), start + limit)
        records = []
        for offset in range(start, end):
            message_id, conn_id, seq, t, body = self._submits[offset]
            record = {"index": self._submits_base + offset, "message_id": message_id}
            record.update({"conn": conn_id, "seq": seq, "t": t})
            record.update(parse_sm(body).as_dict())
            records.append(record)
        return {"submits": records, "next": self._submits_base + max(end, start)}

    def configure(self, updates: dict[str, Any]) -> dict[str, Any]:
        """Apply runtime knobs (POST /config) including their side effects."""
        was_paused = self.cfg.paused
        changed = self.cfg.apply(updates)
        if "refuse_binds_for" in changed:
            self._refuse_until = time.monotonic() + self.cfg.refuse_binds_for
        if "throttle_every" in changed:
            self._throttle_seen = 0
        if "fail_every" in changed:
            self._fail_seen = 0
        if "throttle_rate" in changed:
            self._bucket = _bucket(self.cfg.throttle_rate)
        if "hostile" in changed or "hostile_every" in changed:
            self._hostile_seen = 0
        if "enquire_interval" in changed:
            for conn in list(self._bound):
                conn.reschedule_enquire()
        self._update_faults()
        if was_paused and not self.cfg.paused:
            self.resume()
        if not self.slow:
            for conn in list(self._connections):
                conn.release_trickle()
        return self.cfg.runtime_view()

    def _update_faults(self) -> None:
        cfg = self.cfg
        self.faults = bool(cfg.throttle_every or cfg.fail_every or cfg.throttle_rate)
        self.hostile = "" if cfg.hostile in ("off", "slow") else cfg.hostile
        self.slow = cfg.hostile == "slow"

    def pause(self) -> None:
        self.cfg.paused = True

    def resume(self) -> None:
        """Unpause and send every held submit_sm_resp that is due, in order, per connection."""
        self.cfg.paused = False
        for conn in list(self._connections):
            conn.flush_held()

    def disconnect_all(self) -> int:
        conns = list(self._connections)
        for conn in conns:
            conn.close()
        return len(conns)

    def reset(self) -> None:
        """Clear counters and stored submits, refill the rate limit; ids are never reused."""
        self.stats = Counters()
        self._submits.clear()
        self._submits_base = 0
        self._throttle_seen = 0
        self._fail_seen = 0
        self._bucket = _bucket(self.cfg.throttle_rate)


def _bucket(rate: float) -> TokenBucket | None:
    """A full bucket for --throttle-rate, or None when it is off (0)."""
    return TokenBucket(rate) if rate > 0 else None
