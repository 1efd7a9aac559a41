"""`smpp-gateway status`: ask the running daemon's `GET /status` and print the answer.

Why over HTTP: the SMPP sessions and queues live in the daemon's engine process, which
publishes them in its runtime directory for the HTTP workers (gateway/rundir.py); the
CLI reads the same config to find the listener and an API key.
Exit status: 0 ready, 1 running but not ready, 2 unreachable or refused.

With TLS on the API (http.tls_certificate) the command speaks HTTPS to the listener and
trusts exactly the certificate the config names: it compares the certificate the daemon
presents with the first one in that file, byte for byte. A CA chain and host name would
prove less here (the command talks to a loopback address that the certificate rarely
names, and any certificate of the same CA would pass). Under mutual TLS
(http.tls_client_ca) it needs a client certificate: --client-cert and --client-key.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
from typing import Any


def status_url(listen: str, tls: bool = False) -> str:
    """The URL of /status on the configured listener (a wildcard address means loopback)."""
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return f"{'https' if tls else 'http'}://{host}:{port}/status"


def pinned_certificate(path: str) -> bytes:
    """The DER bytes of the first certificate in a PEM file (the server's own, in a chain)."""
    with open(path, encoding="ascii", errors="replace") as fh:
        text = fh.read()
    end = text.find(ssl.PEM_FOOTER)
    start = text.rfind(ssl.PEM_HEADER, 0, end)
    if start < 0 or end < 0:
        raise ValueError(f"{path}: no PEM certificate in it")
    return ssl.PEM_cert_to_DER_cert(text[start : end + len(ssl.PEM_FOOTER)])


def client_context(client_cert: str | None, client_key: str | None) -> ssl.SSLContext:
    """Verification is the pin (see the module doc), so no CA or host name check here."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context


def connect(cfg: Any, timeout: float, client_cert: str | None, client_key: str | None) -> Any:
    """An open connection to the listener; with TLS, only to the configured certificate."""
    url = status_url(cfg.http.listen)
    host, port = url.split("/")[2].rsplit(":", 1)
    host = host.strip("[]")
    if not cfg.http.tls_certificate:
        plain = http.client.HTTPConnection(host, int(port), timeout=timeout)
        plain.connect()
        return plain
    expected = pinned_certificate(cfg.http.tls_certificate)
    context = client_context(client_cert, client_key)
    secure = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    secure.connect()
    if secure.sock.getpeercert(binary_form=True) != expected:
        secure.close()
        raise ssl.SSLError("the daemon's certificate is not the one in http.tls_certificate")
    return secure


def show_status(
    cfg: Any, timeout: float = 5.0, client_cert: str | None = None, client_key: str | None = None
) -> int:
    url = status_url(cfg.http.listen, tls=bool(cfg.http.tls_certificate))
    if not cfg.http.api_keys:  # clients' keys are hashes in the file: nothing to present
        print(f"status: {url}: needs a key in http.api_keys (SMPP_GATEWAY_HTTP_API_KEYS)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        connection = connect(cfg, timeout, client_cert, client_key)
        try:
            connection.request("GET", "/status", headers={"X-Mitto-API-Key": cfg.http.api_keys[0]})
            response = connection.getresponse()
            if response.status != 200:
                raise OSError(f"HTTP {response.status} {response.reason}")
            body = json.load(response)
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        print(f"status: {url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(body, indent=2))
    return 0 if body.get("ready") else 1
