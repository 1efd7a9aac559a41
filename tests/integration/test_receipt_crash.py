"""kill -9 with receipts in flight: after the restart every message gets its DELIVERED.

The simulator keeps every deliver_sm until its deliver_sm_resp (status 0) arrives and
sends it again on the next bind when the connection dies first, as a real SMSC does. So
a receipt the daemon never saw, or saw and stored but never acknowledged, comes again
after a crash; the store applies a receipt at most once per state change (a final state
is final), so the second copy changes nothing and calls nothing back.

Callbacks are at-least-once: a kill between a receiver's 2xx and the commit that removes
the outbox row posts that row again after the restart, with the same X-Webhook-Id (the
row's id, for receivers to drop duplicates). So the tests require exactly one callback
*row* per message (one distinct X-Webhook-Id) and count re-posts of the same row apart;
these can only be rows in flight at the kill, at most webhooks.concurrency of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import receivers

CONCURRENCY = 8  # webhooks.concurrency: the most callbacks in flight when the daemon dies


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def start(start_gateway, sim: SimulatorProcess, receiver: WebhookReceiver, **store):
    return start_gateway(
        sim.port,
        store=store,
        webhooks={
            "default_callback_url": receiver.url("/cb"),
            "notify_statuses": ["DELIVERED"],
            "retry_min_delay": 0.1,
            "retry_max_delay": 0.5,
            "concurrency": CONCURRENCY,
            "timeout": 2.0,
        },
    )


def send(gateway: GatewayProcess, numbers: list[str]) -> list[str]:
    return [gateway.send(**{"from": "Shop", "to": n, "text": f"crash {n}"})["id"] for n in numbers]


def delivered_rows(receiver: WebhookReceiver) -> dict[str, set[str | None]]:
    """message id -> the X-Webhook-Ids of its DELIVERED callbacks."""
    rows: dict[str, set[str | None]] = defaultdict(set)
    for request in receiver.requests:
        if request.query.get("status") == "DELIVERED":
            rows[request.query["msgid"]].add(request.webhook_id)
    return rows


def settled(gateway: GatewayProcess) -> bool:
    """Nothing left to call back: the outbox is empty."""
    return gateway.get("/status").json()["outbox_depth"] == 0


def assert_one_state_change_each(gateway: GatewayProcess, ids: list[str]) -> None:
    for message_id in ids:
        view = gateway.get(f"/sms/{message_id}").json()
        states = [h["state"] for h in view["history"]]
        assert view["status"] == "DELIVERED" and states.count("delivered") == 1, view


def test_kill_9_with_receipts_in_flight_every_message_gets_its_delivered_callback(
    start_gateway, receiver: WebhookReceiver
) -> None:
    # Receipts come 2 s after each submit: by then every submit_sm_resp is recorded, so no
    # message is in flight to the SMSC at the kill (that one would be submitted again after
    # the restart, at-least-once, and bring a second receipt); only receipts are.
    with SimulatorProcess(receipt_delay=2.0, redeliver_delay=0.2) as sim:
        gateway = start(start_gateway, sim, receiver)
        ids = send(gateway, receivers(200))
        wait_for(lambda: gateway.get("/status").json()["queue_depth"] == 0, what="all sent")
        sim.wait_for(lambda s: s["receipts_sent"] >= 40, timeout=20)
        # From here on the SMSC hears no deliver_sm_resp: every receipt it writes stays in
        # flight, whether the daemon stored it (most) or was killed before reading it.
        sim.config(ignore_deliver_resp=True)
        sim.wait_for(lambda s: s["deliver_unacked"] >= 20, timeout=20)
        gateway.kill()
        sim.config(ignore_deliver_resp=False)
        at_kill = sim.wait_for(lambda s: s["connections"] == 0)
        in_flight = at_kill["deliver_requeued"]["connection_lost"]
        assert in_flight >= 20 and at_kill["receipts_sent"] < 200, at_kill  # mid-stream

        restarted = start(start_gateway, sim, receiver, path=str(gateway.db_path))
        wait_for(
            lambda: set(delivered_rows(receiver)) >= set(ids),
            timeout=60,  # PostgreSQL: a callback leased by the dead daemon waits for its lease
            what="a DELIVERED callback for each of the 200 messages",
        )
        stats = sim.wait_deliveries_settled(timeout=20)
        # PostgreSQL: a row posted by the dead daemon but not yet marked done is posted
        # again when its lease (30 s) runs out; SQLite voids the leases at open.
        wait_for(lambda: settled(restarted), timeout=60, what="outbox empty")

        assert stats["receipts_sent"] == 200 and stats["deliver_resent"] >= in_flight
        rows = delivered_rows(receiver)
        assert set(rows) == set(ids)
        assert all(len(webhook_ids) == 1 for webhook_ids in rows.values()), "one row each"
        posts = Counter(
            r.query["msgid"] for r in receiver.requests if r.query.get("status") == "DELIVERED"
        )
        reposted = sum(posts.values()) - len(posts)
        assert reposted <= CONCURRENCY, f"{reposted} re-posts of rows in flight at the kill"
        assert_one_state_change_each(restarted, ids)
        print(
            f"\nkill -9 with {in_flight} receipts unacknowledged: all 200 DELIVERED, "
            f"{stats['deliver_resent']} receipts re-sent, {reposted} callbacks re-posted"
        )


def test_receipt_stored_but_not_acknowledged_is_resent_and_changes_nothing(
    start_gateway, receiver: WebhookReceiver
) -> None:
    """The receipt reached the store, the resp never reached the SMSC: the SMSC sends it
    again to the restarted daemon, which acknowledges it without a second state change."""
    with SimulatorProcess(receipt_delay=0, redeliver_delay=0.1, ignore_deliver_resp=True) as sim:
        gateway = start(start_gateway, sim, receiver)
        ids = send(gateway, receivers(10))
        wait_for(lambda: set(delivered_rows(receiver)) == set(ids), what="10 DELIVERED")
        wait_for(lambda: settled(gateway), what="outbox empty before the kill")
        assert sim.stats()["deliver_unacked"] == 10  # stored, yet unacknowledged to the SMSC
        gateway.kill()
        sim.config(ignore_deliver_resp=False)

        restarted = start(start_gateway, sim, receiver, path=str(gateway.db_path))
        stats = sim.wait_deliveries_settled()
        assert stats["deliver_resent"] == 10 and stats["deliver_requeued"] == {
            "connection_lost": 10
        }
        assert stats["deliver_sm_resp"]["ESME_ROK"] == 20  # 10 ignored, 10 counted
        wait_for(lambda: settled(restarted), what="outbox empty after the re-sent receipts")
        assert Counter(r.query["msgid"] for r in receiver.requests) == Counter(ids)
        assert_one_state_change_each(restarted, ids)
