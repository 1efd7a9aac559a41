"""Idempotency-Key on POST /sms and /smsbulk against the real daemon and simulator.

"Nothing was sent" is shown with a marker message sent afterwards: the simulator sees
submits in order, so once the marker arrived, a repeat's submit would have too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.testing.process import GatewayProcess, Response
from gateway.testing.simulator import SimulatorProcess
from tests.integration.helpers import wait_submits

pytestmark = pytest.mark.integration

SMS = {"from": "MITTO SMS", "to": "491725551234", "text": "Your code is 1234"}
BULK = {"from": "MITTO SMS", "to": ["359888123456", "12025550123"], "text": "Sale!"}
MARKER = "41799999999"


def post(gateway: GatewayProcess, path: str, body: Any, key: str) -> Response:
    return gateway.request("POST", path, body, headers={"Idempotency-Key": key})


def send_marker(gateway: GatewayProcess, sim: SimulatorProcess, expected_total: int) -> None:
    gateway.send(**{**SMS, "to": MARKER})
    submits = wait_submits(sim, expected_total)
    assert len(submits) == expected_total
    assert submits[-1]["destination_addr"] == MARKER


def assert_replayed(repeat: Response, first: Response) -> None:
    assert repeat.status == 200
    assert repeat.json() == first.json()
    assert repeat.headers.get("Idempotent-Replayed") == "true"


def test_a_repeat_answers_the_same_sends_nothing_and_survives_a_restart(
    sim: SimulatorProcess, tmp_path: Path
) -> None:
    gateway = GatewayProcess(tmp_path, sim.port).start()
    try:
        first_sms = post(gateway, "/sms", SMS, "order-1")
        first_bulk = post(gateway, "/smsbulk", BULK, "campaign-1")
        assert first_sms.status == first_bulk.status == 200
        assert "Idempotent-Replayed" not in first_sms.headers
        wait_submits(sim, 3)
        assert_replayed(post(gateway, "/sms", SMS, "order-1"), first_sms)
        assert_replayed(post(gateway, "/smsbulk", BULK, "campaign-1"), first_bulk)

        other = post(gateway, "/sms", {**SMS, "text": "Your code is 9999"}, "order-1")
        assert other.status == 422
        assert "already used with a different request" in other.json()["error"]
        assert post(gateway, "/smsbulk", SMS, "order-1").status == 422  # another endpoint
        gateway.stop()

        gateway = GatewayProcess(tmp_path, sim.port).start()  # same store file
        assert_replayed(post(gateway, "/sms", SMS, "order-1"), first_sms)
        assert_replayed(post(gateway, "/smsbulk", BULK, "campaign-1"), first_bulk)
        assert post(gateway, "/sms.xml", SMS, "order-1").body.startswith(b"<?xml")
        send_marker(gateway, sim, 4)
    finally:
        gateway.__exit__(None, None, None)


def test_concurrent_requests_with_one_key_send_once(
    gateway: GatewayProcess, sim: SimulatorProcess
) -> None:
    answers: list[Response] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait(5)
        answers.append(post(gateway, "/sms", SMS, "same-key"))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(answers) == 8 and {a.status for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    send_marker(gateway, sim, 2)


def test_keys_belong_to_requests_that_sent_and_bad_keys_are_refused(
    gateway: GatewayProcess, sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]
) -> None:
    refused = post(gateway, "/sms", {**SMS, "to": "12ab"}, "k-refused")
    assert refused.json()["responseCode"] == 8
    fixed = post(gateway, "/sms", SMS, "k-refused")  # a refusal kept no record
    assert fixed.json()["responseCode"] == 0 and "Idempotent-Replayed" not in fixed.headers
    bad_key = post(gateway, "/sms", SMS, "has space")
    assert bad_key.status == 400 and bad_key.json()["field"] == "Idempotency-Key"
    send_marker(gateway, sim, 2)
