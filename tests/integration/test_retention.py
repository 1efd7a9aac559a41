"""Retention in the running daemon, on both backends: finished messages older than
store.retention disappear, queued work never does, and (SQLite) the file stops growing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import receivers
from tests.integration.test_scale_out import metric


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def test_old_finished_messages_are_purged_and_delivered_webhooks_not_kept(start_gateway, receiver):
    """Delivered webhooks are deleted at delivery (issue 15), so retention purges the
    finished messages only; queued work stays."""
    with SimulatorProcess(receipt_delay=0.05) as sim:
        gateway = start_gateway(
            sim.port,
            store={"retention": 2.0, "retention_batch": 3},
            webhooks={"default_callback_url": receiver.url("/cb")},
        )
        sent = [gateway.send(**{"from": "Shop", "to": n, "text": "x"})["id"] for n in receivers(7)]
        receiver.wait_for_count(14, timeout=20)  # SENT and DELIVERED callbacks
        sim.pause()  # the next one stays queued (submitting) past the retention age
        queued = gateway.send(**{"from": "Shop", "to": "41790000099", "text": "x"})["id"]
        wait_for(
            lambda: all(gateway.get(f"/sms/{i}").status == 404 for i in sent),
            timeout=20,
            what="finished messages purged",
        )
        wait_for(
            lambda: metric(gateway, "smpp_gateway_store_purged_total") >= 7,
            timeout=20,
            what="finished messages counted as purged",
        )
        assert gateway.get(f"/sms/{queued}").status == 200
        assert metric(gateway, "smpp_gateway_webhook_outbox_depth") == 0


def checkpointed_size(path: Path) -> int:
    """The database file's size once everything committed is in it."""
    with sqlite3.connect(path, timeout=10) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert not busy, "the checkpoint could not complete"
    return path.stat().st_size


@pytest.mark.sqlite_only
def test_at_a_steady_state_the_file_stops_growing(start_gateway):
    """Send, deliver, expire, again (issue 15): the pages retention frees are reused and
    given back (auto_vacuum INCREMENTAL), so the file is no larger after the fifth round
    than after the first (within a few pages). Measured after a checkpoint, which moves
    what the WAL holds into the file (the WAL itself is recycled at each checkpoint)."""
    with SimulatorProcess(receipt_delay=0.02) as sim:
        gateway = start_gateway(sim.port, store={"retention": 0.5, "retention_batch": 1000})
        sizes = []
        for round_ in range(5):
            numbers = receivers(300, base=4179_100_0000 + round_ * 1000)
            answer = gateway.request(
                "POST", "/smsbulk", {"from": "Shop", "text": "steady " * 10, "to": numbers}
            ).json()
            assert answer["responseCode"] == 0
            wait_for(
                lambda: not any(gateway.get("/status").json()["messages_by_state"].values()),
                timeout=30,
                what=f"round {round_}: every message delivered and purged",
            )
            sizes.append(checkpointed_size(gateway.db_path))
        print(f"\nfile after each round (checkpointed): {sizes}")
        # the same after every round, within a few pages of index slack
        assert max(sizes[1:]) <= sizes[0] + 16 * 4096, f"the file grew: {sizes}"
