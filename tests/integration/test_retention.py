"""Retention in the running daemon, on both backends: finished messages and delivered
webhooks older than store.retention disappear; queued work never does."""

from __future__ import annotations

from collections.abc import Iterator

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


def test_old_finished_messages_and_delivered_webhooks_are_purged(start_gateway, receiver):
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
            lambda: metric(gateway, "smpp_gateway_store_purged_total") >= 7 + 14,
            timeout=20,
            what="delivered webhooks purged",
        )
        assert gateway.get(f"/sms/{queued}").status == 200
        assert metric(gateway, "smpp_gateway_webhook_outbox_depth") == 0
