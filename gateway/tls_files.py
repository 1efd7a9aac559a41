"""Loading a private key that the config holds as text (a secret) into OpenSSL.

Why a module of its own: the SMPP client certificate (smpp.tls_key) and the API's server
certificate (http.tls_key) both come as PEM text from the secret machinery of
gateway/config.py, and OpenSSL loads keys from files only.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator


class EncryptedKey(Exception):
    """OpenSSL asked for a passphrase: the key file is encrypted."""


def no_passphrase() -> bytes:
    """load_cert_chain's password callback: without one OpenSSL would prompt on the
    terminal, which a daemon has not."""
    raise EncryptedKey


@contextlib.contextmanager
def key_path(pem: str) -> Iterator[str | None]:
    """A path OpenSSL can read the key from (None for no key).

    An anonymous memory file where the system has them, so the key never touches a
    disk; otherwise a 0600 file in a private temporary directory, removed at once.
    """
    if not pem:
        yield None
        return
    data = pem.encode() + b"\n"
    fd = _memory_file(data)
    if fd is not None:
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="smpp-gateway-tls-") as directory:
        path = os.path.join(directory, "key.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        yield path


def why(exc: BaseException) -> str:
    """A short reason for a log line or a config problem."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _memory_file(data: bytes) -> int | None:
    """An anonymous memory file holding `data` and readable by path; None where there is none."""
    try:
        fd = os.memfd_create("tls-key", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return None
    try:
        _write_all(fd, data)
        if os.path.exists(f"/proc/self/fd/{fd}"):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
