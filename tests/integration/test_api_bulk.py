"""POST /smsbulk end to end: real daemon, real simulator, real SQLite file.

A test that claims "nothing (more) was sent" sends a marker message afterwards and waits
for it: the simulator sees submits in order, so once the marker is there, anything the
earlier request had queued would be there too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from tests.integration.helpers import all_submits, receivers, wait_submits

pytestmark = pytest.mark.integration

BASE = {"from": "MITTO SMS", "text": "Hello, World!"}
MARKER = "41799999999"


def destinations(sim: SimulatorProcess) -> Counter[str]:
    return Counter(s["destination_addr"] for s in all_submits(sim))


def send_marker(gateway: GatewayProcess, sim: SimulatorProcess, expected_total: int) -> None:
    """Send one more message and check the simulator then holds exactly expected_total."""
    gateway.send(**BASE, to=MARKER)
    submits = wait_submits(sim, expected_total)
    assert len(submits) == expected_total
    assert submits[-1]["destination_addr"] == MARKER


def test_to_as_array_and_as_comma_string(gateway: GatewayProcess, sim: SimulatorProcess) -> None:
    as_array = gateway.request("POST", "/smsbulk", {**BASE, "to": ["+491725551234", 359888123456]})
    as_text = gateway.request("POST", "/smsbulk", {**BASE, "to": "12025550123, 0041791234567"})
    for response, given in [
        (as_array, ["+491725551234", "359888123456"]),
        (as_text, ["12025550123", "0041791234567"]),
    ]:
        assert response.status == 200
        body = response.json()
        assert (body["responseCode"], body["responseText"]) == (0, "SMS sent")
        assert "test" not in body
        assert [m["to"] for m in body["messages"]] == given
        assert all(m["textLength"] == 13 and m["messageParts"] == 1 for m in body["messages"])
        for item in body["messages"]:
            assert set(item) == {"id", "timestamp", "to", "textLength", "messageParts"}
            assert gateway.get(f"/sms/{item['id']}").json()["to"] == item["to"].lstrip("+0")
    wait_submits(sim, 4)
    assert destinations(sim) == Counter(
        ["491725551234", "359888123456", "12025550123", "41791234567"]
    )


def test_one_bad_receiver_does_not_sink_the_batch_and_duplicates_go_twice(
    gateway: GatewayProcess, sim: SimulatorProcess
) -> None:
    to = ["491725551234", "4917x", "491725551234", "", "359888123456"]
    body = gateway.request("POST", "/smsbulk", {**BASE, "to": to}).json()
    assert body["responseCode"] == 0
    items = body["messages"]
    assert [m["to"] for m in items] == to
    assert [m.get("responseCode") for m in items] == [None, 8, None, 7, None]
    assert items[1]["responseText"] == "Invalid receiver" and "id" not in items[1]
    assert items[3]["responseText"] == "Empty receiver"
    assert items[0]["id"] != items[2]["id"]
    wait_submits(sim, 3)
    assert destinations(sim) == Counter({"491725551234": 2, "359888123456": 1})
    send_marker(gateway, sim, 4)


def test_a_bulk_of_1000_with_3_invalid_and_the_maximum_batch(
    sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway(sim.port, http={"bulk_max_receivers": 1000})
    to = receivers(1000)
    bad = {10: "12ab", 500: "+0123456789", 999: "4179123456789012"}
    for index, number in bad.items():
        to[index] = number
    response = gateway.request("POST", "/smsbulk", {**BASE, "to": to})
    assert response.status == 200
    items = response.json()["messages"]
    assert [m["to"] for m in items] == to
    assert [i for i, m in enumerate(items) if m.get("responseCode") == 8] == sorted(bad)
    assert sum("id" in m for m in items) == 997
    wait_submits(sim, 997, timeout=30)
    good = [n for i, n in enumerate(to) if i not in bad]
    assert destinations(sim) == Counter(good)

    too_many = gateway.request("POST", "/smsbulk", {**BASE, "to": ",".join(receivers(1001))})
    assert too_many.status == 400
    assert too_many.json() == {
        "error": "to: 1001 receivers; at most 1000 per request (http.bulk_max_receivers)",
        "field": "to",
    }
    send_marker(gateway, sim, 998)


def test_a_shared_problem_refuses_every_receiver_and_sends_nothing(
    gateway: GatewayProcess, sim: SimulatorProcess
) -> None:
    body = gateway.request(
        "POST", "/smsbulk", {"from": "", "text": "hi", "to": "491725551234,359888123456"}
    ).json()
    assert (body["responseCode"], body["responseText"]) == (5, "Empty sender")
    assert [m["responseCode"] for m in body["messages"]] == [5, 5]
    test_mode = gateway.request("POST", "/smsbulk", {**BASE, "to": ["491725551234"], "test": True})
    assert test_mode.json()["test"] is True and "id" not in test_mode.json()["messages"][0]
    send_marker(gateway, sim, 1)
