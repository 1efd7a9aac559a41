"""The webhook dispatcher against a real SQLite store and a real local HTTP receiver.

Every test that delivers runs once per transport (gateway/webhooks/transport.py): pycurl's
multi interface, the daemon's, and urllib3 on threads; both must keep every promise."""

from __future__ import annotations

import base64
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway import metrics
from gateway.config import StoreSettings, WebhooksSettings
from gateway.model import OutboxRow
from gateway.store import Store, open_store
from gateway.store.sql import outbox
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.waiting import free_port, wait_for
from gateway.webhooks import signing
from gateway.webhooks.attempt import retry_after
from gateway.webhooks.curl_transport import CurlTransport
from gateway.webhooks.dispatcher import IDLE_CLAIM_INTERVAL, Dispatcher
from gateway.webhooks.transport import MAX_ANSWER, Transport
from gateway.webhooks.urllib3_transport import Urllib3Transport
from gateway.webhooks.urls import check_url

SECRET = "s3cret-key-for-tests"


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def outcomes() -> dict[str, float]:
    return {
        o: sample("smpp_gateway_webhook_deliveries_total", {"outcome": o})
        for o in ("delivered", "retry", "dead")
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(StoreSettings(path=str(tmp_path / "gw.db"), commit_max_delay=0.0))
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


TRANSPORTS: dict[str, Callable[[int, float], Transport]] = {
    "curl": CurlTransport,
    "urllib3": Urllib3Transport,
}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_dispatcher(store: Store, settings: WebhooksSettings, transport: str) -> Dispatcher:
    made = TRANSPORTS[transport](settings.concurrency, settings.timeout)
    return Dispatcher(store, settings, transport=made, poll_interval=0.05)


@pytest.fixture
def dispatch(store: Store, transport: str) -> Iterator[Callable[..., Dispatcher]]:
    """Start a dispatcher with fast test settings; every one is stopped at the end."""
    started: list[Dispatcher] = []

    def start(**overrides: object) -> Dispatcher:
        settings = dict(
            concurrency=4,
            timeout=5.0,
            retry_min_delay=0.05,
            retry_max_delay=0.2,
            max_age=3600.0,
            secret=SECRET,
            allowed_callback_hosts=("127.0.0.1",),
        )
        settings.update(overrides)
        d = new_dispatcher(store, WebhooksSettings(**settings), transport)  # type: ignore[arg-type]
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop(5.0)


def add_row(
    store: Store,
    url: str,
    *,
    method: str = "POST",
    body: bytes | None = b'{"a":1}',
    content_type: str | None = "application/json",
    created_at: float | None = None,
    kind: str = "callback",
) -> OutboxRow:
    """An outbox row, committed through the store's own writer as the hooks would."""
    now = time.time()
    row = OutboxRow(
        id=str(uuid.uuid4()),
        kind=kind,
        message_id=None,
        created_at=now if created_at is None else created_at,
        url=url,
        method=method,
        content_type=content_type if body is not None else None,
        body=body,
    )
    store._writer.call(lambda conn: outbox.insert(conn, row, now), label="test", timeout=5)
    return row


def settled(store: Store) -> bool:
    """Every outcome written: nothing pending and the writer's queue run."""
    store.flush(5.0)
    return store.outbox_depth() == 0


# -- signing ------------------------------------------------------------------------------


def test_signature_helpers_verify_and_refuse() -> None:
    data = signing.payload("POST", "/cb?x=1", b'{"a":1}')
    assert data == b'{"a":1}'
    assert signing.payload("GET", "/cb?x=1", b"ignored") == b"/cb?x=1"
    sig = signing.sign(SECRET, 1_700_000_000, data)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert signing.verify(SECRET, "1700000000", data, sig, now=1_700_000_100)
    assert not signing.verify(SECRET, "1700000000", data + b" ", sig, now=1_700_000_100)
    assert not signing.verify("other", "1700000000", data, sig, now=1_700_000_100)
    assert not signing.verify(SECRET, "1700000001", data, sig, now=1_700_000_100)
    assert not signing.verify(SECRET, "1700000000", data, sig, now=1_700_000_301)
    assert not signing.verify(SECRET, None, data, sig, now=1_700_000_000)
    assert not signing.verify(SECRET, "soon", data, sig, now=1_700_000_000)


def test_retry_after_parsing() -> None:
    assert retry_after("7", now=0) == 7.0
    assert retry_after(" 0 ", now=0) == 0.0
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after("soon", now=0) is None
    assert retry_after(None, now=0) is None


# -- delivery -----------------------------------------------------------------------------


def test_post_delivered_once_with_headers_and_a_valid_signature(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    before = outcomes()
    attempts_before = sample("smpp_gateway_webhook_attempts_total")
    latency_before = sample("smpp_gateway_webhook_delivery_latency_seconds_count")
    row = add_row(store, receiver.url("/cb"), body=b'{"msgid":"m1","status":"DELIVERED"}')
    d = dispatch()
    d.wake()
    (got,) = receiver.wait_for_count(1)
    wait_for(lambda: settled(store), what="the row marked delivered")
    d.stop(5.0)
    assert receiver.count == 1
    assert got.method == "POST" and got.path == "/cb"
    assert got.json() == {"msgid": "m1", "status": "DELIVERED"}
    assert got.header("X-Webhook-Id") == row.id
    assert got.header("X-Webhook-Attempt") == "1"
    assert got.header("Content-Type") == "application/json"
    assert (got.header("User-Agent") or "").startswith("smpp-gateway/")
    ts = got.header("X-Webhook-Timestamp")
    assert ts is not None and abs(int(ts) - time.time()) < 30
    data = signing.payload(got.method, got.target, got.body)
    assert signing.verify(SECRET, ts, data, got.header("X-Webhook-Signature"), now=time.time())
    assert outcomes()["delivered"] == before["delivered"] + 1
    assert outcomes()["retry"] == before["retry"]
    assert sample("smpp_gateway_webhook_attempts_total") == attempts_before + 1
    assert sample("smpp_gateway_webhook_delivery_latency_seconds_count") == latency_before + 1
    assert store.list_dead() == []


WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_standard_webhooks_signature_verifies_with_the_receivers_library(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    """signature_scheme = standard-webhooks: the `standardwebhooks` package from PyPI
    (what receivers use) accepts the callback, and refuses a wrong secret or a changed
    body."""
    import standardwebhooks

    body = b'{"msgid":"m1","status":"DELIVERED"}'
    row = add_row(store, receiver.url("/cb"), body=body)
    d = dispatch(secret=WHSEC, signature_scheme="standard-webhooks")
    d.wake()
    (got,) = receiver.wait_for_count(1)
    assert got.header("webhook-id") == row.id == got.header("X-Webhook-Id")
    assert got.header("X-Webhook-Signature") is None  # one scheme at a time
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert standardwebhooks.Webhook(WHSEC).verify(got.body, headers) == {
        "msgid": "m1",
        "status": "DELIVERED",
    }
    other = "whsec_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(got.body, headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(WHSEC).verify(got.body.replace(b"m1", b"m2"), headers)


def test_get_signs_the_request_target_and_sends_no_body(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    url = receiver.url("/dlr?msgid=m%202&status=DELIVERED&receiver=4179")
    row = add_row(store, url, method="GET", body=None)
    post = add_row(
        store,
        receiver.url("/form"),
        body=b"a=1&b=x+y",
        content_type="application/x-www-form-urlencoded",
    )
    dispatch()
    requests = {r.webhook_id: r for r in receiver.wait_for_count(2)}
    get, form = requests[row.id], requests[post.id]
    assert get.method == "GET" and get.body == b""
    assert get.query == {"msgid": "m 2", "status": "DELIVERED", "receiver": "4179"}
    assert get.header("Content-Type") is None
    assert get.target == "/dlr?msgid=m%202&status=DELIVERED&receiver=4179"
    assert signing.verify(
        SECRET,
        get.header("X-Webhook-Timestamp"),
        signing.payload("GET", get.target, None),
        get.header("X-Webhook-Signature"),
        now=time.time(),
    )
    assert form.method == "POST" and form.form() == {"a": "1", "b": "x y"}
    assert form.header("Content-Type") == "application/x-www-form-urlencoded"


def test_no_secret_no_signature_headers(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    add_row(store, receiver.url())
    dispatch(secret="")
    (got,) = receiver.wait_for_count(1)
    assert got.header("X-Webhook-Signature") is None
    assert got.header("X-Webhook-Timestamp") is None
    assert got.header("X-Webhook-Id")


def test_server_error_is_retried_then_delivered(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    before = outcomes()
    receiver.set_status([500, 503, 200])
    row = add_row(store, receiver.url())
    dispatch()
    requests = receiver.wait_for_count(3)
    wait_for(lambda: settled(store), what="delivered")
    assert [r.status for r in requests] == [500, 503, 200]
    assert {r.webhook_id for r in requests} == {row.id}
    assert [r.header("X-Webhook-Attempt") for r in requests] == ["1", "2", "3"]
    assert outcomes()["retry"] == before["retry"] + 2
    assert outcomes()["delivered"] == before["delivered"] + 1
    assert store.list_dead() == []


def test_client_error_is_dead_at_once_then_replayed(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    dead_before = sample("smpp_gateway_webhook_dead_letters_total")
    receiver.set_status(404)
    row = add_row(store, receiver.url("/missing"))
    dispatch()
    receiver.wait_for_count(1)
    dead = wait_for(lambda: store.list_dead(), what="a dead letter")
    assert [d.row.id for d in dead] == [row.id]
    assert dead[0].attempts == 1 and dead[0].state == "dead"
    assert "404" in (dead[0].last_error or "")
    assert sample("smpp_gateway_webhook_dead_letters_total") == dead_before + 1
    assert receiver.count == 1  # not retried

    receiver.set_status(200)
    assert store.replay_dead([row.id]) == 1
    requests = receiver.wait_for_count(2)
    assert requests[1].webhook_id == row.id and requests[1].status == 200
    assert requests[1].header("X-Webhook-Attempt") == "1"  # attempts reset by the replay
    wait_for(lambda: settled(store), what="delivered after the replay")
    assert store.list_dead() == []


def test_connections_are_kept_alive(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    for n in range(5):
        add_row(store, receiver.url(f"/cb/{n}"))
    dispatch(concurrency=1)
    requests = receiver.wait_for_count(5)
    assert len({r.client_port for r in requests}) == 1  # one connection, five requests


def test_unusable_url_is_dead_at_once(store: Store, dispatch: Callable[..., Dispatcher]) -> None:
    row = add_row(store, "ftp://127.0.0.1/cb?x=1")
    dispatch()
    (dead,) = wait_for(lambda: store.list_dead(), what="a dead letter")
    assert dead.row.id == row.id and dead.attempts == 1
    assert "unusable URL" in (dead.last_error or "")


def test_receiver_down_then_up_gets_every_webhook_exactly_once(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    early = [add_row(store, receiver.url(f"/early/{n}")) for n in range(5)]
    d = dispatch(concurrency=4, retry_min_delay=0.05, retry_max_delay=0.3)
    receiver.wait_for_count(len(early))  # the pool now holds kept-alive connections
    wait_for(lambda: settled(store), what="the early ones recorded")
    receiver.down()  # cuts those connections too
    rows = [add_row(store, receiver.url(f"/cb/{n}")) for n in range(30)]
    retries_before = outcomes()["retry"]
    d.wake()
    # every row has failed at least once against the closed port
    wait_for(lambda: outcomes()["retry"] >= retries_before + len(rows), what="refused tries")
    assert receiver.count == len(early)
    receiver.up()
    wait_for(lambda: settled(store), timeout=15, what="all delivered")
    ids = receiver.ids()
    assert sorted(ids) == sorted(r.id for r in early + rows)  # all present, none twice
    assert store.list_dead() == []
    later = receiver.requests[len(early) :]
    assert all(int(r.header("X-Webhook-Attempt") or 0) >= 2 for r in later)


def test_max_age_turns_retries_into_a_dead_letter(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    receiver.set_status(503)
    young = add_row(store, receiver.url("/young"))
    old = add_row(store, receiver.url("/old"), created_at=time.time() - 100)
    refused = add_row(store, f"http://127.0.0.1:{free_port()}/closed", created_at=time.time() - 100)
    dispatch(max_age=1.0, retry_min_delay=0.1, retry_max_delay=0.2)
    dead = wait_for(
        lambda: len(store.list_dead()) == 3 and store.list_dead(),
        timeout=10,
        what="three dead letters",
    )
    by_id = {d.row.id: d for d in dead}
    assert by_id[old.id].attempts == 1  # already too old at its first failure
    assert by_id[young.id].attempts > 1  # retried until max_age
    assert "HTTP 503" in (by_id[young.id].last_error or "")
    assert "max_age" in (by_id[young.id].last_error or "")
    assert by_id[refused.id].attempts == 1
    assert "refused" in (by_id[refused.id].last_error or "").lower()


def test_slow_receiver_does_not_hold_up_another(
    store: Store, dispatch: Callable[..., Dispatcher]
) -> None:
    with WebhookReceiver(delay=2.0) as slow, WebhookReceiver() as fast:
        add_row(store, slow.url("/slow"), created_at=time.time() - 1)
        add_row(store, slow.url("/slow"), created_at=time.time() - 1)
        fast_rows = [add_row(store, fast.url("/fast")) for _ in range(10)]
        started = time.monotonic()
        dispatch(concurrency=4)
        wait_for(
            lambda: fast.count == len(fast_rows),
            timeout=1.5,
            what="the fast receiver served while the slow one sleeps",
        )
        assert time.monotonic() - started < 2.0
        assert slow.count == 2 and all(r.status is None for r in slow.requests)
        slow.wait_for_count(2, timeout=5)
        wait_for(lambda: settled(store), what="all delivered")


def test_retry_after_is_honoured(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    receiver.set_status([(429, {"Retry-After": "1"}), 200])
    add_row(store, receiver.url("/limited"))
    dispatch(retry_min_delay=0.01, retry_max_delay=5.0)
    first, second = receiver.wait_for_count(2, timeout=5)
    gap = second.at - first.at
    assert 0.9 <= gap < 3.0, gap  # without Retry-After it would have been 0.005-0.01 s
    wait_for(lambda: settled(store), what="delivered")


def test_retry_after_is_capped_by_retry_max_delay(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    receiver.set_status([(503, {"Retry-After": "3600"}), 200])
    add_row(store, receiver.url("/capped"))
    dispatch(retry_min_delay=0.01, retry_max_delay=0.3)
    first, second = receiver.wait_for_count(2, timeout=5)
    assert 0.25 <= second.at - first.at < 2.0
    wait_for(lambda: settled(store), what="delivered")


def test_stop_ends_every_thread_and_logs_no_secret_or_query(
    store: Store, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.webhooks")
    receiver.set_status([500, 410])
    add_row(store, receiver.url("/cb?token=private-value"), method="GET", body=None)
    settings = WebhooksSettings(
        concurrency=3,
        timeout=2.0,
        retry_min_delay=0.05,
        retry_max_delay=0.1,
        secret=SECRET,
        allowed_callback_hosts=("127.0.0.1",),
    )
    d = new_dispatcher(store, settings, transport)
    d.start()
    names = {t.name for t in threading.enumerate()}
    expected = {
        "curl": {"webhook-claimer", "webhook-transfers"},
        "urllib3": {"webhook-claimer", "webhook-worker-1", "webhook-worker-3"},
    }
    assert expected[transport] <= names
    wait_for(lambda: store.list_dead(), what="dead after 410")
    d.stop(5.0)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("webhook-")]
    text = caplog.text
    assert "dead letter" in text and "/cb" in text
    assert SECRET not in text and "private-value" not in text
    assert SECRET not in repr(settings)


# -- the URL is checked again right before it is opened ------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "\\@cb.example/x",  # urlsplit: cb.example; urllib3: the canary
        "\\@CB.EXAMPLE:80/x",
        "/x\r\nX-Injected: 1",
    ],
)
def test_a_stored_url_that_fails_the_check_is_dead_and_never_sent(
    store: Store, dispatch: Callable[..., Dispatcher], receiver: WebhookReceiver, path: str
) -> None:
    """A row stored before the check existed gets no pass: dead letter, nothing sent."""
    canary = receiver
    with WebhookReceiver() as allowed:
        bad = add_row(store, f"http://127.0.0.1:{canary.port}{path}")
        control = add_row(store, allowed.url("/control"))
        dispatch(allowed_callback_hosts=("cb.example", f"127.0.0.1:{allowed.port}"))
        assert [r.webhook_id for r in allowed.wait_for_count(1)] == [control.id]
        (dead,) = wait_for(lambda: store.list_dead(), what="a dead letter")
    assert dead.row.id == bad.id and "unusable URL" in (dead.last_error or "")
    assert canary.count == 0
    assert wait_for(lambda: settled(store), what="every row settled")
    assert [d.row.id for d in store.list_dead()] == [bad.id]  # the control was delivered


def test_a_host_off_the_allow_list_is_dead_and_never_sent(
    store: Store, dispatch: Callable[..., Dispatcher], receiver: WebhookReceiver
) -> None:
    canary = receiver
    add_row(store, canary.url("/x"))
    dispatch(allowed_callback_hosts=("cb.example",), default_callback_url="http://127.0.0.1:9/cb")
    (dead,) = wait_for(lambda: store.list_dead(), what="a dead letter")
    assert f"127.0.0.1:{canary.port} is neither on webhooks.allowed_callback_hosts" in (
        dead.last_error or ""
    )
    assert canary.count == 0


def test_a_redirect_is_not_followed(
    store: Store, dispatch: Callable[..., Dispatcher], receiver: WebhookReceiver
) -> None:
    canary = receiver
    with WebhookReceiver(status=(302, {"Location": canary.url("/redirected")})) as allowed:
        row = add_row(store, allowed.url("/cb"))
        dispatch(allowed_callback_hosts=(f"127.0.0.1:{allowed.port}",))
        (dead,) = wait_for(lambda: store.list_dead(), what="a dead letter")
        assert allowed.count == 1
    assert dead.row.id == row.id and (dead.last_error or "").startswith("HTTP 302")
    assert canary.count == 0


# -- what every transport promises (gateway/webhooks/transport.py) ------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/a/./b/../c?x=/../y",  # dot segments: as urllib3 reads them, and signed so
        "/%7euser/%2F%2f?q=%41&r=a%20b",
        "/cb/<msgid>?s={status}&t=|^`",  # characters urllib3 percent-encodes
        "//double//slash?@127.0.0.1:9/&x=;,",
        "/frag?x=1#dropped",
    ],
)
def test_the_request_uri_goes_on_the_line_as_signed(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher], path: str
) -> None:
    url = receiver.url(path)
    add_row(store, url, method="GET", body=None)
    dispatch()
    (got,) = receiver.wait_for_count(1)
    assert got.target == check_url(url).request_uri
    data = signing.payload("GET", got.target, None)
    ts = got.header("X-Webhook-Timestamp")
    assert signing.verify(SECRET, ts, data, got.header("X-Webhook-Signature"), now=time.time())
    wait_for(lambda: settled(store), what="delivered")


def test_a_post_without_content_type_gets_none(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    """libcurl would label any body as a form: the row's (missing) type is what goes."""
    add_row(store, receiver.url("/raw"), body=b"raw bytes", content_type=None)
    dispatch()
    (got,) = receiver.wait_for_count(1)
    assert got.method == "POST" and got.body == b"raw bytes"
    assert got.header("Content-Type") is None
    assert got.header("Expect") is None and got.header("Accept") is None


def test_connections_are_bounded_by_concurrency(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    for n in range(12):
        add_row(store, receiver.url(f"/cb/{n}"))
    dispatch(concurrency=2)
    requests = receiver.wait_for_count(12)
    assert 1 <= len({r.client_port for r in requests}) <= 2


def test_an_answer_longer_than_max_answer_costs_its_connection(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    """A 2xx with a huge body is delivered, a 5xx with one retried; neither body is read
    to its end: that connection is dropped instead. Short answers keep theirs."""
    huge = b"x" * (2 * MAX_ANSWER)
    receiver.set_status([(200, {}, huge), (500, {}, huge), 200, 200])
    rows = [add_row(store, receiver.url("/first"))]
    dispatch(concurrency=1)
    receiver.wait_for_count(1)
    rows.append(add_row(store, receiver.url("/second")))
    receiver.wait_for_count(3)  # 500, then the retry
    rows.append(add_row(store, receiver.url("/third")))
    requests = receiver.wait_for_count(4)
    wait_for(lambda: settled(store), what="all delivered")
    assert [r.webhook_id for r in requests] == [rows[0].id, rows[1].id, rows[1].id, rows[2].id]
    assert [r.status for r in requests] == [200, 500, 200, 200]
    ports = [r.client_port for r in requests]
    assert ports[0] != ports[1] and ports[1] != ports[2]  # each long answer cost its connection
    assert ports[2] == ports[3]  # short ones keep it
    assert store.list_dead() == []


def test_an_error_answer_longer_than_max_answer_keeps_its_start(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    receiver.set_status((410, {}, b"GONE:" + b"y" * (2 * MAX_ANSWER)))
    add_row(store, receiver.url("/gone"))
    dispatch()
    (dead,) = wait_for(lambda: store.list_dead(), what="a dead letter")
    error = dead.last_error or ""
    assert error.startswith("HTTP 410 Gone: GONE:yyy") and len(error) < 300, error


def test_the_timeout_is_per_request_and_total(
    store: Store, receiver: WebhookReceiver, dispatch: Callable[..., Dispatcher]
) -> None:
    receiver.set_delay(3.0)
    row = add_row(store, receiver.url("/slow"), created_at=time.time() - 10)
    started = time.monotonic()
    dispatch(timeout=0.5, max_age=1.0)
    (dead,) = wait_for(lambda: store.list_dead(), timeout=5, what="a dead letter")
    assert time.monotonic() - started < 2.5  # the receiver was not waited for
    assert dead.row.id == row.id and "timed out" in (dead.last_error or "").lower()


def test_no_proxy_from_the_environment(
    store: Store,
    receiver: WebhookReceiver,
    dispatch: Callable[..., Dispatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary = receiver
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, canary.url(""))
    with WebhookReceiver() as allowed:
        add_row(store, allowed.url("/direct"))
        dispatch(allowed_callback_hosts=(f"127.0.0.1:{allowed.port}",))
        (got,) = allowed.wait_for_count(1)
        assert got.path == "/direct"
        wait_for(lambda: settled(store), what="delivered")
    assert canary.count == 0


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, Path]]:
    """An https receiver whose certificate a throw-away CA signed: (receiver, CA file)."""
    from tests.tlscerts import Pki

    pki = Pki(tmp_path / "pki")
    ca = pki.authority("webhook-test-ca")
    server = pki.issue(ca, "receiver", ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    with WebhookReceiver(tls=context) as r:
        yield r, ca.cert


def test_https_is_verified_against_the_system_trust(
    store: Store,
    https_receiver: tuple[WebhookReceiver, Path],
    dispatch: Callable[..., Dispatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system's CA certificates (OpenSSL's default paths, as Python's ssl finds them)
    are loaded and do not know this CA: refused, nothing delivered. The same CA in
    SSL_CERT_FILE (which Python's ssl, and so urllib3, reads): delivered."""
    receiver, ca_file = https_receiver
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    untrusted = add_row(store, receiver.url("/untrusted"), created_at=time.time() - 10)
    d = dispatch(max_age=1.0)
    (dead,) = wait_for(lambda: store.list_dead(), what="refused by verification")
    assert dead.row.id == untrusted.id
    # the trust store loaded, the peer not in it (not: no CA file found)
    assert "unable to get local issuer certificate" in (dead.last_error or ""), dead.last_error
    assert receiver.count == 0
    d.stop(5.0)

    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    trusted = add_row(store, receiver.url("/trusted"))
    dispatch()
    (got,) = receiver.wait_for_count(1)
    assert got.webhook_id == trusted.id and got.path == "/trusted"
    wait_for(lambda: len(store.list_dead()) == 1 and settled(store), what="delivered")


def test_an_idle_claimer_waits_until_the_first_row_falls_due_and_at_most_a_second(
    store: Store,
) -> None:
    """Claims are writes: with nothing due the claimer asks when something will be (a
    read) and sleeps that long, instead of claiming ten times a second."""
    now = 1_000_000.0
    dispatcher = Dispatcher(
        store, WebhooksSettings(), transport=Urllib3Transport(1, 1.0), clock=lambda: now
    )
    assert store.outbox_next_due() is None
    assert dispatcher._idle_wait() == IDLE_CLAIM_INTERVAL
    row = add_row(store, "http://127.0.0.1:9/cb")
    store._writer.call(  # a retry due 0.3 s from the injected now
        lambda conn: outbox.retry(conn, item_id=row.id, next_at=now + 0.3, error="x"),
        label="test",
        timeout=5,
    )
    assert store.outbox_next_due() == now + 0.3
    assert dispatcher._idle_wait() == pytest.approx(0.3)
    (item,) = store.claim_outbox(10, 30.0)  # leased: not due for this claimer
    assert item.row.id == row.id and store.outbox_next_due() is None
