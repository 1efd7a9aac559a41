"""HTTPS on the API (issue 11, item 11) with real TLS clients and throw-away certificates.

Runs on SQLite only: TLS is the HTTP worker's business; the store is not involved.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.waiting import free_port
from tests.integration.helpers import wait_submits
from tests.tlscerts import Issued, Pki

pytestmark = pytest.mark.sqlite_only

SEND = {"from": "Shop", "to": "41791234567", "text": "over tls"}


class Certificates:
    """A server CA with the gateway's certificate, and a client CA with one client."""

    def __init__(self, directory: Path) -> None:
        pki = Pki(directory)
        self.server_ca = pki.authority("server-ca")
        self.server = pki.issue(self.server_ca, "gateway", ["127.0.0.1", "localhost"])
        self.client_ca = pki.authority("client-ca")
        self.client = pki.issue(self.client_ca, "api-client", [], client=True)
        self.stranger = pki.issue(pki.authority("other-ca"), "stranger", [], client=True)

    def http(self, client_ca: bool = False) -> dict[str, str]:
        """[http] settings: the key is a secret, read from its file (tls_key_file)."""
        settings = {"tls_certificate": str(self.server.cert), "tls_key_file": str(self.server.key)}
        return settings | ({"tls_client_ca": str(self.client_ca.cert)} if client_ca else {})

    def client_context(self, identity: Issued | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.server_ca.cert))
        if identity is not None:
            context.load_cert_chain(str(identity.cert), str(identity.key))
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("pki"))


def status_command(gateway: GatewayProcess, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "status", "--config", str(gateway.config_path),
         *extra],
        env={**os.environ, "SMPP_GATEWAY_HTTP_API_KEYS": API_KEY},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_a_send_over_https_reaches_the_smsc_and_status_speaks_https(sim, start_gateway, pki):
    gateway = start_gateway(sim.port, client_tls=pki.client_context(), http=pki.http())
    assert gateway.base_url.startswith("https://")
    assert gateway.send(**SEND)["responseCode"] == 0
    (submit,) = wait_submits(sim, 1)
    assert bytes.fromhex(submit["short_message"]) == b"over tls"
    # a body of many TLS records is buffered whole, then answered
    long = gateway.request("POST", "/sms", {**SEND, "text": "x" * 100_000})
    assert long.status == 400 and long.json()["field"] == "text"
    result = status_command(gateway)
    assert result.returncode == 0, result.stderr
    assert '"ready": true' in result.stdout


def test_plain_http_to_the_tls_port_gets_no_answer(sim, start_gateway, pki):
    gateway = start_gateway(sim.port, client_tls=pki.client_context(), http=pki.http())
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert not received.startswith(b"HTTP/")
    plain = f"http://127.0.0.1:{gateway.port}/healthz"
    with pytest.raises((OSError, urllib.error.URLError)):
        urllib.request.urlopen(plain, timeout=5)
    assert gateway.get("/healthz").status == 200  # HTTPS still serves


def handshake(port: int, context: ssl.SSLContext) -> str:
    """The TLS version agreed with 127.0.0.1:port; raises what the handshake raised."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


def old_client(pki: Certificates) -> ssl.SSLContext:
    """A client that offers TLS 1.1 and nothing newer (its own security level lowered)."""
    context = pki.client_context()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def serve_one_tls11_handshake(pki: Certificates) -> int:
    """A control server that accepts TLS 1.1: proves this machine's OpenSSL can speak it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(5)

    def serve() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
                with context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused_and_tls_1_2_is_accepted(sim, start_gateway, pki):
    try:
        control = handshake(serve_one_tls11_handshake(pki), old_client(pki))
    except ssl.SSLError as exc:
        pytest.skip(f"this machine's OpenSSL cannot speak TLS 1.1 at all: {exc}")
    assert control == "TLSv1.1"
    gateway = start_gateway(sim.port, client_tls=pki.client_context(), http=pki.http())
    with pytest.raises(ssl.SSLError):
        handshake(gateway.port, old_client(pki))
    tls12 = pki.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(gateway.port, tls12) == "TLSv1.2"


def test_connections_that_never_finish_a_handshake_hold_no_thread(sim, start_gateway, pki):
    gateway = start_gateway(
        sim.port,
        client_tls=pki.client_context(),
        http={**pki.http(), "request_read_timeout": 3.0, "threads": 4},
    )
    silent = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(50)]
    stalled = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(50)]
    try:
        for sock in stalled:
            sock.sendall(b"\x16\x03\x01\x02\x00")  # the start of a ClientHello, no more
        started = time.perf_counter()
        assert gateway.send(**SEND)["responseCode"] == 0
        assert time.perf_counter() - started < 1.0
        wait_submits(sim, 1)
        for sock in silent + stalled:
            sock.settimeout(10)  # the server closes them at its 3 s deadline
            assert sock.recv(4096) == b""
    finally:
        for sock in silent + stalled:
            sock.close()


def test_mutual_tls_admits_only_clients_with_a_certificate_from_the_ca(sim, start_gateway, pki):
    gateway = start_gateway(
        sim.port,
        client_tls=pki.client_context(pki.client),
        http=pki.http(client_ca=True),
    )
    assert gateway.send(**SEND)["responseCode"] == 0
    wait_submits(sim, 1)
    url = f"{gateway.base_url}/healthz"
    for refused in (pki.client_context(), pki.client_context(pki.stranger)):
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            urllib.request.urlopen(url, timeout=5, context=refused).read()
    assert status_command(gateway).returncode == 2  # no client certificate
    identity = ["--client-cert", str(pki.client.cert), "--client-key", str(pki.client.key)]
    assert status_command(gateway, *identity).returncode == 0
