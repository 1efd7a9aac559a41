"""The API's TLS server context, built from the http.tls_* settings.

Why a module of its own: each HTTP worker (worker.py) builds the context once as it
boots, and the config loader (config_load.py) builds it too, so that a certificate, key
or CA that does not load stops `check-config` and the start instead of failing in each
HTTP worker as it boots. Nothing here touches a socket.
"""

from __future__ import annotations

import ssl

from gateway import tls_files


class TlsSetupError(ValueError):
    """The TLS settings do not make a context; `setting` names the one at fault."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def server_context(certificate: str, key: str, client_ca: str = "") -> ssl.SSLContext:
    """The API's TLS context: the certificate chain and its key (PEM text), TLS 1.2 at
    least, and with `client_ca` client certificates signed by it required (mutual TLS).

    Built once per worker (gunicorn would build one per connection); the config loader
    builds it too, so that a bad file stops `check-config` and the start."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not _holds_pem_certificate(certificate):
        raise TlsSetupError("tls_certificate", f"{certificate!r} holds no PEM certificate")
    try:
        with tls_files.key_path(key) as keyfile:
            context.load_cert_chain(certificate, keyfile, password=tls_files.no_passphrase)
    except tls_files.EncryptedKey:
        raise TlsSetupError("tls_key", "the key is encrypted; give it unencrypted") from None
    except OSError as exc:  # ssl.SSLError included
        why = tls_files.why(exc)
        raise TlsSetupError("tls_key", f"does not load with {certificate!r}: {why}") from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except OSError as exc:
            why = tls_files.why(exc)
            raise TlsSetupError("tls_client_ca", f"{client_ca!r} gives no CA: {why}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _holds_pem_certificate(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return ssl.PEM_HEADER.encode() in fh.read()
    except OSError:
        return False
