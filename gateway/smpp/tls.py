"""SMPP over TLS: the client context built from the [smpp] tls_* settings, and a stream
that the session's reader and writer threads can share.

Why not ssl.SSLSocket: the session reads on one thread and writes on another, and an
SSLSocket would run SSL_read and SSL_write on one SSL object at the same time, which
OpenSSL forbids. Here the TLS state is an ssl.SSLObject over memory buffers, touched
only under a lock and never while waiting on the network; the socket underneath stays a
plain TCP socket, whose reads and writes may overlap (and keeps TCP_NODELAY).

Failures become TlsError with a reason for the log and a label from LABELS for the
bind-failure metric, so a wrong CA or a hostname mismatch reads as what it is.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from gateway.config import SmppSettings
from gateway.tls_files import EncryptedKey as _EncryptedKey
from gateway.tls_files import key_path as _key_path
from gateway.tls_files import no_passphrase as _no_passphrase
from gateway.tls_files import why as _why

log = logging.getLogger("gateway.smpp")

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# The bounded label set of smpp_gateway_session_bind_failures_total{reason} for TLS.
LABELS = (
    "tls_certificate",  # the SMSC's certificate chain did not verify (wrong CA, expired...)
    "tls_hostname",  # it verified but names another host
    "tls_protocol",  # no TLS version both sides accept (the SMSC offers only TLS < 1.2)
    "tls_alert",  # the SMSC ended the handshake, e.g. it wants a client certificate
    "tls_timeout",  # no handshake within smpp.response_timeout
    "tls_handshake",  # anything else: closed mid-handshake, not a TLS port, ...
)
_READ_SIZE = 65536


@dataclass(frozen=True)
class TlsSettings:
    """The tls_* settings of [smpp], without the `tls_` prefix (see gateway/config.py)."""

    ca_file: str = ""
    verify_hostname: bool = True
    server_name: str = ""
    cert_file: str = ""
    key: str = field(default="", repr=False)  # PEM text of the client key (a secret)
    min_version: str = "1.2"

    @classmethod
    def from_config(cls, smpp: SmppSettings) -> TlsSettings | None:
        """From the config's [smpp] section; None when smpp.tls is off."""
        if not smpp.tls:
            return None
        return cls(
            ca_file=smpp.tls_ca_file,
            verify_hostname=smpp.tls_verify_hostname,
            server_name=smpp.tls_server_name,
            cert_file=smpp.tls_cert_file,
            key=smpp.tls_key,
            min_version=smpp.tls_min_version,
        )


class TlsConfigError(ValueError):
    """A tls_* setting that cannot be used; `setting` names it (without "smpp.")."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class TlsError(ConnectionError):
    """A TLS failure on the link; `label` is one of LABELS, str() says why."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(reason)
        self.label = label


def client_context(settings: TlsSettings) -> ssl.SSLContext:
    """The SSLContext for the binds; TlsConfigError names the setting that is wrong.

    The system's CAs unless ca_file names others; certificate and (by default)
    hostname verification always on; TLS 1.2 at least.
    """
    try:
        ctx = ssl.create_default_context(cafile=settings.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            "tls_ca_file", f"cannot load CA file {settings.ca_file!r}: {_why(exc)}"
        ) from None
    ctx.minimum_version = TLS_VERSIONS[settings.min_version]
    ctx.check_hostname = settings.verify_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if settings.cert_file:
        _load_client_certificate(ctx, settings)
    elif settings.key:
        raise TlsConfigError("tls_key", "a client key needs tls_cert_file (its certificate)")
    return ctx


def tls_context(smpp: SmppSettings) -> ssl.SSLContext | None:
    """The binds' context from the config's [smpp] section; None when smpp.tls is off."""
    settings = TlsSettings.from_config(smpp)
    if settings is None:
        return None
    if not settings.verify_hostname:
        log.warning(
            "smpp.tls_verify_hostname is false: UNSAFE, any certificate from a trusted CA "
            "is accepted as the SMSC's"
        )
    return client_context(settings)


def _load_client_certificate(ctx: ssl.SSLContext, settings: TlsSettings) -> None:
    try:
        with open(settings.cert_file, "rb"):
            pass
    except OSError as exc:
        raise TlsConfigError(
            "tls_cert_file", f"cannot read {settings.cert_file!r}: {_why(exc)}"
        ) from None
    setting = "tls_key" if settings.key else "tls_cert_file"
    try:
        with _key_path(settings.key) as keyfile:
            ctx.load_cert_chain(settings.cert_file, keyfile, password=_no_passphrase)
    except _EncryptedKey:
        raise TlsConfigError(
            setting, "the private key is encrypted; give it unencrypted (a 0600 file)"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        where = "tls_cert_file and tls_key" if settings.key else "tls_cert_file (no tls_key)"
        raise TlsConfigError(
            setting, f"client certificate and key from {where} do not load: {_why(exc)}"
        ) from None


def classify(exc: ssl.SSLError) -> TlsError:
    """A TlsError with a bounded label and a reason an operator can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        label = "tls_hostname" if exc.verify_code in NAME_MISMATCH else "tls_certificate"
        return TlsError(label, f"certificate verify failed: {exc.verify_message}")
    reason = exc.reason or ""
    if reason in ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"):
        return TlsError("tls_handshake", f"{_why(exc)} (does smpp.port speak TLS?)")
    if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason:
        return TlsError("tls_protocol", f"{_why(exc)} (no TLS version both sides accept)")
    if "ALERT" in reason:
        return TlsError("tls_alert", f"the SMSC refused the TLS session: {_why(exc)}")
    return TlsError("tls_handshake", _why(exc))


class TlsStream:
    """A TLS client over a connected socket, duck-typing the socket calls a session makes.

    One thread may read while another writes: the TLS state is only touched under
    `_tls_lock`, which is never held while waiting on the network; `_send_lock` keeps
    the encrypted records in the order they were made.
    """

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, server_name: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        self._tls_lock = threading.Lock()
        self._send_lock = threading.Lock()

    def handshake(self, timeout: float) -> None:
        """The whole handshake within `timeout` seconds, or TlsError("tls_timeout")."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._tls_lock:
                    try:
                        self._tls.do_handshake()
                        done = True
                    except ssl.SSLWantReadError:
                        done = False
                self._flush(deadline)
                if done:
                    return
                self._fill(deadline)
        except ssl.SSLError as exc:
            with contextlib.suppress(OSError):
                self._flush(deadline)  # our alert tells the SMSC why
            raise classify(exc) from None
        except TimeoutError:
            raise TlsError("tls_timeout", f"no TLS handshake within {timeout:g}s") from None
        except TlsError:
            raise
        except OSError as exc:  # reset mid-handshake: a TLS failure too, as far as we know
            raise TlsError(
                "tls_handshake", f"connection lost in the TLS handshake: {exc}"
            ) from None

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        data = self._sock.recv(_READ_SIZE)
        if not data:
            raise TlsError(
                "tls_handshake", "connection closed during the TLS handshake (is smpp.port TLS?)"
            )
        with self._tls_lock:
            self._incoming.write(data)

    def _flush(self, deadline: float | None = None) -> None:
        """Send what the TLS layer has made (records, alerts, key updates), in order."""
        with self._send_lock:
            with self._tls_lock:
                data = self._outgoing.read()
            if data:
                if deadline is not None:
                    self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                self._sock.sendall(data)

    def version(self) -> str | None:
        return self._tls.version()

    def cipher(self) -> str | None:
        cipher = self._tls.cipher()
        return cipher[0] if cipher else None

    # -- the socket calls the session and FrameReader make -----------------------------

    def recv(self, size: int) -> bytes:
        """Plaintext, b"" at the end; TimeoutError from the socket passes through."""
        while True:
            with self._tls_lock:
                try:
                    data: bytes | None = self._tls.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    data = b""
                except ssl.SSLError as exc:
                    raise classify(exc) from None
                pending = self._outgoing.pending
            if pending:
                self._flush()
            if data is not None:
                return data
            raw = self._sock.recv(_READ_SIZE)
            if not raw:
                return b""
            with self._tls_lock:
                self._incoming.write(raw)

    def sendall(self, data: bytes) -> None:
        with self._send_lock:
            with self._tls_lock:
                view = memoryview(data)
                try:
                    while view:
                        view = view[self._tls.write(view) :]
                except ssl.SSLError as exc:
                    raise classify(exc) from None
                records = self._outgoing.read()
            self._sock.sendall(records)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def shutdown(self, how: int) -> None:
        """close_notify when the writer is not mid-send, then the TCP shutdown."""
        if self._send_lock.acquire(timeout=0.2):
            try:
                with self._tls_lock:
                    with contextlib.suppress(ssl.SSLError, ValueError):
                        self._tls.unwrap()
                    data = self._outgoing.read()
                with contextlib.suppress(OSError):
                    self._sock.settimeout(0.2)
                    self._sock.sendall(data)
            finally:
                self._send_lock.release()
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()
