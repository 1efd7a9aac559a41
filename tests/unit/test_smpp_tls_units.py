"""gateway/smpp/tls.py and the smpp.tls_* settings: contexts, config problems, the stream.

The stream tests talk to a real TLS server on 127.0.0.1 (a thread in this process);
certificates are made per test by tests/tlscerts.py.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config_load import ConfigError, build_config, load_config
from gateway.smpp.tls import LABELS, TlsError, TlsSettings, TlsStream, client_context
from tests.tlscerts import Issued, Pki

KEYS = {"SMPP_GATEWAY_HTTP_API_KEYS": "k1"}


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SMPP_GATEWAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def ca(pki: Pki) -> Issued:
    return pki.authority("ca")


def problems(smpp: dict, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config({"smpp": smpp}, {**KEYS, **(env or {})})
    return info.value.problems


# ---- the context ----------------------------------------------------------------------


def test_context_defaults_verify_everything_from_tls_1_2(ca: Issued):
    ctx = client_context(TlsSettings(ca_file=str(ca.cert)))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "ca"),),)]


def test_context_without_ca_file_uses_the_system_cas():
    ctx = client_context(TlsSettings())
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    assert (
        ctx.cert_store_stats()["x509_ca"]
        == ssl.create_default_context().cert_store_stats()["x509_ca"]
    )


def test_context_min_1_3_and_hostname_check_off(ca: Issued):
    ctx = client_context(
        TlsSettings(ca_file=str(ca.cert), min_version="1.3", verify_hostname=False)
    )
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.check_hostname is False
    assert ctx.verify_mode == ssl.CERT_REQUIRED  # the chain is still checked


# ---- configuration --------------------------------------------------------------------


def test_tls_settings_load_with_a_client_certificate(pki: Pki, ca: Issued, tmp_path: Path):
    client = pki.issue(ca, "gw", [], client=True)
    cfg = build_config(
        {
            "smpp": {
                "tls": True,
                "tls_ca_file": str(ca.cert),
                "tls_cert_file": str(client.cert),
                "tls_key_file": str(client.key),
                "tls_server_name": "smsc.example",
            }
        },
        KEYS,
    )
    assert cfg.smpp.tls and cfg.smpp.tls_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE" not in repr(cfg.smpp)
    settings = TlsSettings.from_config(cfg.smpp)
    assert settings is not None and "PRIVATE" not in repr(settings)
    client_context(settings)  # loads


def test_key_from_the_environment(pki: Pki, ca: Issued):
    client = pki.issue(ca, "gw", [], client=True)
    env = {"SMPP_GATEWAY_SMPP_TLS_KEY": client.key.read_text()}
    cfg = build_config({"smpp": {"tls": True, "tls_cert_file": str(client.cert)}}, {**KEYS, **env})
    assert cfg.smpp.tls_key == client.key.read_text()
    client_context(TlsSettings.from_config(cfg.smpp))  # loads from memory


def test_relative_files_are_relative_to_the_config_file(pki: Pki, ca: Issued, tmp_path: Path):
    client = pki.issue(ca, "gw", [], client=True)
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[smpp]\ntls = true\n"
        'tls_ca_file = "pki/ca.crt"\ntls_cert_file = "pki/gw.crt"\ntls_key_file = "pki/gw.key"\n'
    )
    cfg = load_config(str(path), KEYS)
    assert cfg.smpp.tls_ca_file == str(ca.cert)
    assert cfg.smpp.tls_cert_file == str(client.cert)


def test_tls_keys_without_tls_are_a_mistake(ca: Issued):
    assert problems({"tls_ca_file": str(ca.cert), "tls_verify_hostname": False}) == [
        "smpp.tls_ca_file: has no effect while smpp.tls is false",
        "smpp.tls_verify_hostname: has no effect while smpp.tls is false",
    ]


def test_missing_and_broken_ca_files(tmp_path: Path):
    (problem,) = problems({"tls": True, "tls_ca_file": str(tmp_path / "nope.pem")})
    assert problem.startswith("smpp.tls_ca_file: cannot load CA file")
    assert "No such file" in problem
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    (problem,) = problems({"tls": True, "tls_ca_file": str(junk)})
    assert problem.startswith("smpp.tls_ca_file: cannot load CA file")


def test_client_certificate_problems_name_the_setting(pki: Pki, ca: Issued, tmp_path: Path):
    client = pki.issue(ca, "gw", [], client=True)
    other = pki.issue(ca, "other", [], client=True)
    (problem,) = problems({"tls": True, "tls_cert_file": str(tmp_path / "none.crt")})
    assert problem.startswith("smpp.tls_cert_file: cannot read")
    (problem,) = problems({"tls": True, "tls_cert_file": str(client.cert)})
    assert problem.startswith("smpp.tls_cert_file: client certificate and key")
    key_env = {"SMPP_GATEWAY_SMPP_TLS_KEY_FILE": str(other.key)}
    (problem,) = problems({"tls": True, "tls_cert_file": str(client.cert)}, key_env)
    assert problem.startswith("smpp.tls_key: client certificate and key")
    assert "mismatch" in problem
    (problem,) = problems({"tls": True}, {"SMPP_GATEWAY_SMPP_TLS_KEY_FILE": str(client.key)})
    assert problem == "smpp.tls_key: a client key needs tls_cert_file (its certificate)"


def test_encrypted_key_is_refused_without_a_prompt(pki: Pki, ca: Issued):
    client = pki.issue(ca, "gw", [], client=True)
    locked = pki.encrypted_key(client, b"sesame")
    env = {"SMPP_GATEWAY_SMPP_TLS_KEY_FILE": str(locked)}
    (problem,) = problems({"tls": True, "tls_cert_file": str(client.cert)}, env)
    assert problem == (
        "smpp.tls_key: the private key is encrypted; give it unencrypted (a 0600 file)"
    )
    assert "ENCRYPTED" not in problem


@pytest.mark.parametrize(
    ("smpp", "start"),
    [
        ({"tls": True, "tls_min_version": "1.1"}, "smpp.tls_min_version: must be one of 1.2, 1.3"),
        ({"tls": True, "tls_server_name": "smsc example"}, "smpp.tls_server_name: must be a host"),
        ({"tls": "yes"}, "smpp.tls: expected a boolean"),
    ],
)
def test_tls_value_problems(smpp: dict, start: str):
    (problem,) = problems(smpp)
    assert problem.startswith(start), problem


# ---- the stream against a real TLS server ---------------------------------------------


class TlsServer:
    """A TLS echo server on 127.0.0.1 for one connection (a thread), or a silent one."""

    def __init__(self, ctx: ssl.SSLContext | None) -> None:
        self.ctx = ctx
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(10)
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:
            self.error = exc
            return
        with conn:
            if self.ctx is None:  # silent: read and never answer
                conn.settimeout(5)
                while conn.recv(65536):
                    pass
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(10)
                    while data := tls.recv(65536):
                        tls.sendall(data)
            except (OSError, ssl.SSLError) as exc:
                self.error = exc

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=15)


@pytest.fixture
def serve() -> Iterator[Callable[[ssl.SSLContext | None], TlsServer]]:
    servers: list[TlsServer] = []

    def start(ctx: ssl.SSLContext | None) -> TlsServer:
        servers.append(TlsServer(ctx))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def server_context(issued: Issued) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(issued.cert, issued.key)
    return ctx


def connect(port: int, settings: TlsSettings, name: str = "127.0.0.1") -> TlsStream:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    stream = TlsStream(sock, client_context(settings), name)
    try:
        stream.handshake(2.0)
    except BaseException:
        sock.close()
        raise
    return stream


def test_stream_carries_concurrent_reads_and_writes_in_order(pki: Pki, ca: Issued, serve):
    server = serve(server_context(pki.issue(ca, "smsc", ["127.0.0.1"])))
    stream = connect(server.port, TlsSettings(ca_file=str(ca.cert)))
    assert stream.version() in ("TLSv1.2", "TLSv1.3")
    chunks = [bytes([i % 251]) * (1 + i * 37 % 3000) for i in range(400)]
    expected = b"".join(chunks)
    stream.settimeout(0.2)
    received = bytearray()

    def read() -> None:
        while len(received) < len(expected):
            try:
                data = stream.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=read)
    reader.start()
    for chunk in chunks:  # written while the reader reads, as a session does
        stream.sendall(chunk)
    reader.join(timeout=20)
    assert bytes(received) == expected
    stream.shutdown(socket.SHUT_RDWR)
    stream.close()


def test_stream_recv_times_out_like_a_socket(pki: Pki, ca: Issued, serve):
    server = serve(server_context(pki.issue(ca, "smsc", ["127.0.0.1"])))
    stream = connect(server.port, TlsSettings(ca_file=str(ca.cert)))
    stream.settimeout(0.05)
    with pytest.raises(TimeoutError):
        stream.recv(100)
    stream.sendall(b"ping")
    stream.settimeout(5)
    assert stream.recv(100) == b"ping"
    stream.close()


@pytest.mark.parametrize(
    ("hosts", "trusted", "name", "label", "words"),
    [
        (["smsc.example"], True, "127.0.0.1", "tls_hostname", "IP address mismatch"),
        (["smsc.example"], True, "other.example", "tls_hostname", "Hostname mismatch"),
        (["127.0.0.1"], False, "127.0.0.1", "tls_certificate", "unable to get local issuer"),
    ],
)
def test_handshake_failures_are_labelled(pki, ca, serve, hosts, trusted, name, label, words):
    other = pki.authority("other-ca")
    server = serve(server_context(pki.issue(ca, "smsc", hosts)))
    settings = TlsSettings(ca_file=str(ca.cert if trusted else other.cert))
    with pytest.raises(TlsError) as info:
        connect(server.port, settings, name)
    assert info.value.label == label and label in LABELS
    assert words in str(info.value)


def test_hostname_check_off_accepts_a_certificate_for_another_name(pki, ca, serve):
    server = serve(server_context(pki.issue(ca, "smsc", ["smsc.example"])))
    stream = connect(server.port, TlsSettings(ca_file=str(ca.cert), verify_hostname=False))
    stream.sendall(b"x")
    stream.settimeout(5)
    assert stream.recv(10) == b"x"
    stream.close()


def test_handshake_has_a_deadline(serve):
    server = serve(None)  # accepts, reads the ClientHello, never answers
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    stream = TlsStream(sock, client_context(TlsSettings()), "127.0.0.1")
    with pytest.raises(TlsError) as info:
        stream.handshake(0.3)
    assert info.value.label == "tls_timeout"
    assert str(info.value) == "no TLS handshake within 0.3s"
    sock.close()


def test_plain_server_is_not_mistaken_for_tls():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_in_clear() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"\x00\x00\x00\x10\x80\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00")

    thread = threading.Thread(target=answer_in_clear, daemon=True)
    thread.start()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    with pytest.raises(TlsError) as info:
        TlsStream(sock, client_context(TlsSettings()), "127.0.0.1").handshake(2.0)
    assert info.value.label == "tls_handshake"
    assert "does smpp.port speak TLS?" in str(info.value)
    sock.close()
    thread.join(timeout=5)
    listener.close()
