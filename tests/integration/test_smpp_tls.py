"""SMPP over TLS: the real daemon binds to the real simulator's TLS listener.

Certificates are made per test (tests/tlscerts.py). The failures (wrong CA, a
certificate for another name, no client certificate, old TLS, silence) must each keep
the gateway unbound (readyz 503) with the reason in its log and in the bind-failure
metric, and a corrected configuration must bind and deliver what was accepted
meanwhile. The failure cases do not touch the store, so they run on SQLite only; the
send-and-receipt case runs on both backends.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import wait_submits
from tests.tlscerts import Issued, Pki

StartGateway = Callable[..., GatewayProcess]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def ca(pki: Pki) -> Issued:
    return pki.authority("smsc-ca")


@pytest.fixture
def server_cert(pki: Pki, ca: Issued) -> Issued:
    return pki.issue(ca, "smsc", ["127.0.0.1"])


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def tls_sim(cert: Issued, **options: object) -> SimulatorProcess:
    options = {"receipt_delay": -1, **options}
    return SimulatorProcess(tls_cert=cert.cert, tls_key=cert.key, **options)


def start_tls(
    start_gateway: StartGateway, sim: SimulatorProcess, *, ready: bool = True, **tls: object
) -> GatewayProcess:
    return start_gateway(
        sim.port, wait_ready=ready, smpp={"tls": True, "reconnect_max_delay": 0.5, **tls}
    )


def tls_failures(gateway: GatewayProcess, label: str) -> list[str]:
    """The log's TLS failure lines for `label`, one per connection attempt."""
    return [line for line in gateway.log().splitlines() if f"failed ({label})" in line]


def bind_failures(gateway: GatewayProcess, label: str) -> float:
    """smpp_gateway_session_bind_failures_total{reason=label, session="trx0"} from /metrics."""
    pattern = re.compile(r"^smpp_gateway_session_bind_failures_total\{([^}]*)\} (\S+)$", re.M)
    for labels, value in pattern.findall(gateway.get("/metrics").body.decode()):
        if set(labels.split(",")) == {f'reason="{label}"', 'session="trx0"'}:
            return float(value)
    return 0.0


def assert_unbound_because(gateway: GatewayProcess, sim: SimulatorProcess, label: str) -> str:
    """Two attempts failed for `label` (retried), readyz says not bound, nothing bound."""
    wait_for(lambda: len(tls_failures(gateway, label)) >= 2, timeout=15, what=f"{label} twice")
    ready = gateway.get("/readyz")
    assert ready.status == 503 and ready.json()["smpp_bound"] is False
    before = bind_failures(gateway, label)
    lines = len(tls_failures(gateway, label))
    after = bind_failures(gateway, label)
    assert before >= 2
    assert before - 1 <= lines <= after  # one log line per counted attempt (one may be mid-way)
    assert sim.stats()["binds"] == 0
    assert "Traceback" not in gateway.log()
    return tls_failures(gateway, label)[0]


def restart_with(gateway: GatewayProcess, **env: str) -> GatewayProcess:
    """The same daemon (same store and config file), restarted with settings overridden."""
    assert gateway.stop() == 0
    gateway.extra_env.update(env)
    return gateway.start()


def send(gateway: GatewayProcess, to: str = "41791234567") -> str:
    body = gateway.send(**{"from": "Shop", "to": to, "text": "over TLS"})
    assert body["responseCode"] == 0
    return body["id"]


def test_send_over_tls_reaches_the_smsc_and_its_receipt_comes_back(
    start_gateway: StartGateway, ca: Issued, server_cert: Issued, receiver: WebhookReceiver
):
    with tls_sim(server_cert, receipt_delay=0.05) as sim:
        gateway = start_gateway(
            sim.port,
            smpp={"tls": True, "tls_ca_file": str(ca.cert)},
            webhooks={"default_callback_url": receiver.url("/cb"), "retry_min_delay": 0.1},
        )
        message_id = send(gateway)
        (submit,) = wait_submits(sim, 1)
        assert submit["destination_addr"] == "41791234567"
        assert submit["short_message"] == "over TLS".encode("gsm03.38").hex()
        wait_for(
            lambda: any(
                r.query.get("msgid") == message_id and r.query.get("status") == "DELIVERED"
                for r in receiver.requests
            ),
            timeout=15,
            what="DELIVERED callback",
        )
        assert gateway.get(f"/sms/{message_id}").json()["status"] == "DELIVERED"
        assert re.search(r"session trx0: TLSv1\.3 with 127\.0\.0\.1:\d+", gateway.log())


@pytest.mark.sqlite_only
def test_wrong_ca_does_not_bind_until_the_right_one_is_configured(
    pki: Pki, ca: Issued, server_cert: Issued, start_gateway: StartGateway
):
    stranger = pki.authority("other-ca")
    with tls_sim(server_cert) as sim:
        gateway = start_tls(start_gateway, sim, ready=False, tls_ca_file=str(stranger.cert))
        line = assert_unbound_because(gateway, sim, "tls_certificate")
        assert "certificate verify failed: unable to get local issuer certificate" in line
        waiting = send(gateway)  # accepted while unbound: kept until the link is up
        restart_with(gateway, SMPP_GATEWAY_SMPP_TLS_CA_FILE=str(ca.cert))
        (submit,) = wait_submits(sim, 1)
        assert submit["short_message"] == "over TLS".encode("gsm03.38").hex()
        wait_for(lambda: gateway.get(f"/sms/{waiting}").json()["state"] == "sent", timeout=15)


@pytest.mark.sqlite_only
def test_hostname_mismatch_does_not_bind_until_the_name_is_right(
    pki: Pki, ca: Issued, start_gateway: StartGateway
):
    named = pki.issue(ca, "smsc-named", ["smsc.example"])  # not for 127.0.0.1
    with tls_sim(named) as sim:
        gateway = start_tls(start_gateway, sim, ready=False, tls_ca_file=str(ca.cert))
        line = assert_unbound_because(gateway, sim, "tls_hostname")
        assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in line
        restart_with(gateway, SMPP_GATEWAY_SMPP_TLS_SERVER_NAME="smsc.example")
        send(gateway)
        wait_submits(sim, 1)


@pytest.mark.sqlite_only
def test_hostname_check_off_binds_and_warns(
    pki: Pki, ca: Issued, start_gateway: StartGateway
) -> None:
    named = pki.issue(ca, "smsc-named", ["smsc.example"])
    with tls_sim(named) as sim:
        gateway = start_tls(start_gateway, sim, tls_ca_file=str(ca.cert), tls_verify_hostname=False)
        assert "smpp.tls_verify_hostname is false: UNSAFE" in gateway.log()
        send(gateway)
        wait_submits(sim, 1)


@pytest.mark.sqlite_only
def test_client_certificate_required_by_the_smsc(
    pki: Pki, ca: Issued, server_cert: Issued, start_gateway: StartGateway
):
    clients_ca = pki.authority("clients-ca")
    client = pki.issue(clients_ca, "gateway-client", [], client=True)
    with tls_sim(server_cert, tls_client_ca=clients_ca.cert) as sim:
        gateway = start_tls(start_gateway, sim, ready=False, tls_ca_file=str(ca.cert))
        line = assert_unbound_because(gateway, sim, "tls_alert")
        assert "the SMSC refused the TLS session" in line
        assert "certificate required" in line
        restart_with(
            gateway,
            SMPP_GATEWAY_SMPP_TLS_CERT_FILE=str(client.cert),
            SMPP_GATEWAY_SMPP_TLS_KEY_FILE=str(client.key),
        )
        send(gateway)
        wait_submits(sim, 1)
        assert client.key.read_text().strip().splitlines()[1] not in gateway.log()


def offers_tls_1_1(port: int, ca: Issued) -> str | None:
    """The TLS version a client that still allows 1.1 gets from the server."""
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


@pytest.mark.sqlite_only
def test_tls_1_1_only_smsc_is_refused(ca: Issued, server_cert: Issued, start_gateway: StartGateway):
    with tls_sim(server_cert, tls_max_version="1.1") as sim:
        assert offers_tls_1_1(sim.port, ca) == "TLSv1.1"  # the server does speak TLS
        gateway = start_tls(start_gateway, sim, ready=False, tls_ca_file=str(ca.cert))
        line = assert_unbound_because(gateway, sim, "tls_protocol")
        assert "protocol version" in line


@pytest.mark.sqlite_only
def test_tls_min_version_1_3_refuses_a_tls_1_2_smsc(
    ca: Issued, server_cert: Issued, start_gateway: StartGateway
):
    with tls_sim(server_cert, tls_max_version="1.2") as sim:
        gateway = start_tls(
            start_gateway, sim, ready=False, tls_ca_file=str(ca.cert), tls_min_version="1.3"
        )
        assert_unbound_because(gateway, sim, "tls_protocol")
        restart_with(gateway, SMPP_GATEWAY_SMPP_TLS_MIN_VERSION="1.2")
        assert re.search(r"session trx0: TLSv1\.2 with", gateway.log())


@pytest.mark.sqlite_only
def test_silent_server_times_out_the_handshake(ca: Issued, start_gateway: StartGateway):
    """A port that accepts and never answers: each attempt ends at response_timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts for it
        port = silent.getsockname()[1]
        gateway = start_gateway(
            port,
            wait_ready=False,
            smpp={"tls": True, "tls_ca_file": str(ca.cert), "response_timeout": 0.5},
        )
        wait_for(lambda: len(tls_failures(gateway, "tls_timeout")) >= 2, timeout=15)
        assert "no TLS handshake within 0.5s" in tls_failures(gateway, "tls_timeout")[0]
        assert gateway.get("/readyz").status == 503


# ---- the simulator's TLS listener, with a plain-Python SMPP client ----------------------

HEADER = struct.Struct("!IIII")
BIND_TRANSCEIVER, SUBMIT_SM, DELIVER_SM = 0x00000009, 0x00000004, 0x00000005
BIND_BODY = b"smppclient\0password\0\0\x34\x00\x00\0"


class TlsSmppClient:
    """Just enough SMPP over a TLS socket: send a PDU, read a whole PDU."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        self.seq = 0

    def send(self, command: int, body: bytes) -> int:
        self.seq += 1
        self.sock.sendall(HEADER.pack(16 + len(body), command, 0, self.seq) + body)
        return self.seq

    def respond(self, command: int, seq: int, body: bytes) -> None:
        self.sock.sendall(HEADER.pack(16 + len(body), command, 0, seq) + body)

    def read(self) -> tuple[int, int, int, bytes]:
        length, command, status, seq = HEADER.unpack(self._exact(16))
        return command, status, seq, self._exact(length - 16)

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed by the simulator")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def client_context(ca: Issued, cert: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


def submit_body(text: bytes) -> bytes:
    return (
        b"\0\x01\x0141790000001\0\x01\x0141790000002\0" + b"\0\0\0" + b"\0\0"
        + bytes((1, 0, 0, 0, len(text))) + text
    )  # fmt: skip


def test_simulator_speaks_smpp_over_tls_receipts_included(ca: Issued, server_cert: Issued):
    with tls_sim(server_cert, receipt_delay=0) as sim:
        client = TlsSmppClient(sim.port, client_context(ca))
        assert client.sock.version() == "TLSv1.3"
        client.send(BIND_TRANSCEIVER, BIND_BODY)
        assert client.read()[:2] == (BIND_TRANSCEIVER | 0x80000000, 0)
        seq = client.send(SUBMIT_SM, submit_body(b"hi"))
        command, status, resp_seq, body = client.read()
        assert (command, status, resp_seq) == (SUBMIT_SM | 0x80000000, 0, seq)
        message_id = body.rstrip(b"\0").decode()
        command, _status, receipt_seq, body = client.read()
        assert command == DELIVER_SM and f"id:{message_id} ".encode() in body
        client.respond(DELIVER_SM | 0x80000000, receipt_seq, b"\0")
        stats = sim.wait_for(lambda s: sum(s["deliver_sm_resp"].values()) == 1)
        assert (stats["submit_sm"], stats["receipts_sent"]) == (1, 1)
        client.close()


def test_simulator_tls_port_refuses_plain_smpp(server_cert: Issued):
    with tls_sim(server_cert) as sim, socket.create_connection(("127.0.0.1", sim.port)) as sock:
        sock.settimeout(5)
        sock.sendall(HEADER.pack(16 + len(BIND_BODY), BIND_TRANSCEIVER, 0, 1) + BIND_BODY)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        assert reply == b""  # not a TLS record: closed without an SMPP answer
        assert sim.stats()["binds"] == 0


def test_simulator_requires_a_client_certificate_when_told(
    pki: Pki, ca: Issued, server_cert: Issued
):
    clients_ca = pki.authority("clients-ca")
    client_cert = pki.issue(clients_ca, "client", [], client=True)
    with tls_sim(server_cert, tls_client_ca=clients_ca.cert) as sim:
        anonymous = TlsSmppClient(sim.port, client_context(ca))  # TLS 1.3: fails on first read
        anonymous.send(BIND_TRANSCEIVER, BIND_BODY)
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            anonymous.read()
        anonymous.close()
        known = TlsSmppClient(sim.port, client_context(ca, client_cert))
        known.send(BIND_TRANSCEIVER, BIND_BODY)
        assert known.read()[:2] == (BIND_TRANSCEIVER | 0x80000000, 0)
        known.close()
        assert sim.stats()["binds"] == 1


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--tls-cert", "/nonexistent/cert.pem"], "cannot load the TLS certificate"),
        (["--tls-key", "/nonexistent/key.pem"], "--tls-key and --tls-client-ca need --tls-cert"),
    ],
)
def test_simulator_tls_flags_are_checked(flags: list[str], words: str):
    done = subprocess.run(
        [sys.executable, "-m", "gateway.simulator", "--port", "0", *flags],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert words in done.stderr
