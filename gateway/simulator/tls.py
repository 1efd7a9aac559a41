"""TLS on the simulator's SMPP listener, done over memory buffers as an SMSC's would be.

asyncio's own TLS server (`create_server(ssl=...)`) drops a connection whose handshake
failed without sending the TLS alert, so a client only sees the connection close; a
real SMSC's TLS stack says why ("certificate required", "protocol version"). This
wrapper sends the alert, then hands the plaintext to the SMPP protocol through a
transport with the calls it uses (write, close, is_closing, get_extra_info).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

_READ_SIZE = 65536


class _PlainTransport(asyncio.Transport):
    """What the SMPP protocol sees: writes are encrypted, close sends close_notify."""

    def __init__(self, tls: TlsServerProtocol) -> None:
        super().__init__()
        self._tls = tls

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tls.send_plain(bytes(data))

    def is_closing(self) -> bool:
        return self._tls.closing

    def close(self) -> None:
        self._tls.close()

    def abort(self) -> None:
        self._tls.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls.ssl_object
        return self._tls.raw_extra_info(name, default)


class TlsServerProtocol(asyncio.Protocol):
    """One accepted connection: TLS handshake (with alerts), then the inner protocol."""

    def __init__(
        self, ctx: ssl.SSLContext, make_inner: Callable[[], asyncio.Protocol], timeout: float
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = ctx.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._make_inner = make_inner
        self._timeout = timeout
        self._raw: asyncio.Transport | None = None
        self._inner: asyncio.Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closing = False

    # -- the TCP side ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if self._inner is None and not self._handshake():
            return
        plain = self._read_plain()
        if plain and self._inner is not None:
            self._inner.data_received(plain)

    def eof_received(self) -> bool | None:
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    # -- TLS -------------------------------------------------------------------------

    def _handshake(self) -> bool:
        """Advance the handshake; True once done and the inner protocol is connected."""
        try:
            self.ssl_object.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except ssl.SSLError:
            self._fail()
            return False
        if self._timer is not None:
            self._timer.cancel()
        self._flush()
        self._inner = self._make_inner()
        self._inner.connection_made(_PlainTransport(self))
        return True

    def _read_plain(self) -> bytes:
        chunks = []
        while not self.closing:
            try:
                chunk = self.ssl_object.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the client's close_notify
                self.close()
                break
            except ssl.SSLError:
                self._fail()
                break
            if not chunk:
                self.close()
                break
            chunks.append(chunk)
        self._flush()
        return b"".join(chunks)

    def _fail(self) -> None:
        """Send the alert OpenSSL wrote (it tells the client why), then close."""
        self._flush()
        self.closing = True
        if self._raw is not None:
            self._raw.close()  # after the buffered alert is written

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self._raw is not None and not self._raw.is_closing():
            self._raw.write(data)

    # -- for the inner protocol ------------------------------------------------------

    def send_plain(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.ssl_object.write(data)
        except ssl.SSLError:
            self._fail()
            return
        self._flush()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        # SSLWantReadError: our close_notify is written; the client's is not awaited
        with contextlib.suppress(ssl.SSLError, ValueError):
            self.ssl_object.unwrap()
        self._flush()
        if self._raw is not None:
            self._raw.close()

    def abort(self) -> None:
        self.closing = True
        if self._raw is not None:
            self._raw.abort()

    def raw_extra_info(self, name: str, default: Any = None) -> Any:
        return self._raw.get_extra_info(name, default) if self._raw is not None else default
