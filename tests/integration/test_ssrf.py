"""The callback allow-list against every known bypass, with a canary that must see nothing.

Two real receivers: the canary, on a port no allow-list entry names, and an allowed one.
Every per-message callback below is either refused with HTTP 400 naming `callback`, or
accepted because it truly targets the allowed receiver, where it must then arrive. Rows
written to the store before the URL check existed (seeded here) must be dead letters. The
test waits until every accepted callback has arrived and the outbox is empty (every row
delivered or dead), then the canary must have seen zero requests.

Accepted cases name `localhost` or 127.0.0.1 only, so no test resolves a name through DNS;
allow-list semantics for other names and default ports are in tests/unit/test_webhook_urls.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.model import OutboxRow
from gateway.store import open_store
from gateway.store.sql import outbox
from gateway.testing.process import GatewayProcess
from gateway.testing.receiver import ReceivedRequest, WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for

pytestmark = pytest.mark.integration

BASE = {"from": "Shop", "to": "41791234567", "text": "x", "deliveryStatusesToNotify": ["SENT"]}


def refused_forms(canary: int, allowed: int) -> list[str]:
    """Callbacks that must be refused: each would reach the canary, or is not one URL."""
    c, a = canary, allowed
    return [
        f"http://127.0.0.1:{c}\\@cb.example/x",  # the reported bypass
        f"http://127.0.0.1:{c}\\@cb.example:80/x",
        f"HTTP://127.0.0.1:{c}\\@CB.EXAMPLE/x",
        f"http://127.0.0.1:{c}\\@127.0.0.1:{a}/x",
        f"http://127.0.0.1:{c}/x",  # simply not on the list
        f"HTTP://127.0.0.1:{c}/X",
        f"http://127.0.0.1.:{c}/x",
        f"http://localhost:{c}/x",
        f"http://2130706433:{c}/x",  # decimal
        f"http://0x7f000001:{c}/x",  # hex
        f"http://0x7f.0.0.1:{c}/x",
        f"http://0177.0.0.1:{c}/x",  # octal
        f"http://127.1:{c}/x",  # short forms
        f"http://127.0.1:{c}/x",
        f"http://2130706433:{a}/x",  # another spelling of an allowed host: refused too
        f"http://[::1]:{c}/x",
        f"http://[::ffff:127.0.0.1]:{c}/x",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{a}/x",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{c}/x",
        f"http://cb.example@127.0.0.1:{c}/x",  # userinfo
        f"http://u:p@127.0.0.1:{a}/x",
        f"http://127.0.0.1:{a}@127.0.0.1:{c}/x",
        f"http://127.0.0.1:{c}%2F@cb.example/x",
        f"http://127.0.0.1:{c}#@cb.example/x",  # fragment and query tricks
        f"http://127.0.0.1:{c}?@cb.example/x",
        f"http://127.0.0.1:{c}/#@cb.example/x",
        "http://a＃@cb.example/",  # fullwidth number sign
        f"http://a＃@127.0.0.1:{c}/",
        f"http://１２７.0.0.1:{c}/",  # fullwidth digits
        "http://[abc/",
        f"http://[127.0.0.1]:{c}/",
        f"http://127.0.0.1:{a}:{c}/x",
        f"http://127.0.0.1:{c} @cb.example/x",
        f"http://127.0.0.1:{c}\t@cb.example/x",
        f"http://127.0.0.1:{c}/x\r\nHost: cb.example",
        f"ftp://127.0.0.1:{a}/x",
        f"//127.0.0.1:{a}/x",
        f"http:/127.0.0.1:{a}/x",
    ]


def accepted_forms(canary: int, allowed: int) -> dict[str, str]:
    """Callbacks that truly target the allowed receiver: path there -> callback."""
    c, a = canary, allowed
    return {
        "/plain": f"http://127.0.0.1:{a}/plain",
        "/upper": f"HTTP://127.0.0.1:{a}/upper",
        "/name": f"http://LocalHost:{a}/name",
        "/dot": f"http://localhost.:{a}/dot",
        "/zero": f"http://127.0.0.1:0{a}/zero",
        "/fragment": f"http://localhost:{a}/fragment#@127.0.0.1:{c}/",
        "/query": f"http://localhost:{a}/query?@127.0.0.1:{c}/",
        "/redirect": f"http://127.0.0.1:{a}/redirect",  # answered 302 towards the canary
    }


@pytest.fixture
def canary() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def allowed(canary: WebhookReceiver) -> Iterator[WebhookReceiver]:
    def answer(request: ReceivedRequest) -> int | tuple[int, dict[str, str]]:
        if request.path == "/redirect":
            return 302, {"Location": canary.url("/redirected")}
        return 200

    with WebhookReceiver(status=answer) as receiver:
        yield receiver


def seed_rows(where: str, urls: list[str]) -> list[str]:
    """Outbox rows as a version without the URL check could have stored them."""
    store = open_store(where)
    now = time.time()
    ids = []
    for url in urls:
        row = OutboxRow(str(uuid.uuid4()), "callback", None, now, url, "GET", None, None)
        writer = store._writers.any() if hasattr(store, "_writers") else store._writer
        writer.call(lambda conn, row=row: outbox.insert(conn, row, now), label="t", timeout=5)
        ids.append(row.id)
    store.flush(5)
    store.close()
    return ids


def test_no_callback_form_reaches_the_canary(
    sim: SimulatorProcess,
    start_gateway: Callable[..., GatewayProcess],
    store_url: str | None,
    tmp_path: Path,
    canary: WebhookReceiver,
    allowed: WebhookReceiver,
) -> None:
    c, a = canary.port, allowed.port
    db = tmp_path / "seeded.db"
    seeded = seed_rows(
        store_url or str(db),
        [f"http://127.0.0.1:{c}\\@cb.example/seeded", f"http://127.0.0.1:{c}/seeded"],
    )
    hosts = ["cb.example", "cb.example:80", f"127.0.0.1:{a}", f"localhost:{a}"]
    gateway = start_gateway(
        sim.port,
        store={"path": str(db)},
        webhooks={
            "allowed_callback_hosts": hosts,
            "retry_min_delay": 0.1,
            "retry_max_delay": 0.5,
        },
    )
    for url in refused_forms(c, a):
        answer = gateway.request("POST", "/sms", {**BASE, "callback": url})
        assert answer.status == 400, (url, answer.body)
        assert answer.json()["field"] == "callback", (url, answer.body)
    accepted = accepted_forms(c, a)
    for url in accepted.values():
        answer = gateway.request("POST", "/sms", {**BASE, "callback": url})
        assert answer.status == 200 and answer.json()["responseCode"] == 0, (url, answer.body)

    def arrived() -> set[str]:
        return {r.path for r in allowed.requests if r.status is not None}

    wait_for(lambda: arrived() >= set(accepted), timeout=20, what="every accepted callback")
    assert arrived() == set(accepted)

    def outbox_depth() -> int:
        return gateway.get("/status").json()["outbox_depth"]

    wait_for(lambda: outbox_depth() == 0, timeout=20, what="every webhook delivered or dead")
    assert canary.count == 0, [r.target for r in canary.requests]
    dead = [line for line in gateway.log().splitlines() if "dead letter" in line]
    for row_id in seeded:
        assert any(row_id in line and "unusable URL" in line for line in dead), dead
    assert any("HTTP 302" in line for line in dead), dead  # the redirect was not followed
    assert "Traceback" not in gateway.log()
