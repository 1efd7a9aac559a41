"""A gunicorn worker whose request threads only ever see whole, buffered requests.

Why: gunicorn's gthread worker gives a connection to a request thread as soon as it is
readable, and the thread then reads the request with blocking reads. 33 clients sending
their headers one byte a second (or nothing) took all 32 threads, and every send and
/healthz waited until they left (issue 11). Here the worker's selector loop does every
read itself, non-blocking, into a per-connection buffer, until framing.py says a
whole request (head and body) is there; only then does a thread run it, its parser reading
the buffered bytes (ReplaySource). A slow or silent client costs a buffer, never a thread.

Deadlines (main loop only; decided in connection.py, kept in a heap by deadlines.py): a
new connection (TLS handshake included) must send its first byte within
`request_read_timeout`, and every request must be whole within `request_read_timeout` of
its first byte; a kept-alive connection may idle for gunicorn's `keepalive`. A request cut
off by its deadline is answered 408; a silent one is closed.

Refusals, without waiting for the rest: a head over gunicorn's limits (414, 431) is
answered by the worker with gunicorn's own error page. A body over `max_body_bytes`
(by Content-Length before the body is sent, or once more than the limit has arrived
chunked) goes to a request thread with what has arrived and nothing after it, so the
application answers its 413 in the endpoint's format. Either way the connection then
closes after a short drain (a lingering close), so the client reads the answer instead of
a reset.

With TLS (http.tls_certificate) the worker builds one server context at start
(tls.py) and runs each handshake non-blocking in the selector loop under the
first request's deadline, so a client that never completes one holds no thread either.

Connections per worker are capped by gunicorn's `worker_connections`: at the cap the worker
stops accepting and new connections wait in the kernel's listen backlog until one closes.

Spreading connections: every worker waits on the one listening socket, and each takes
one connection per wake-up, after a pause that grows with the connections it already
holds (ACCEPT_STAGGER each, at most ACCEPT_STAGGER_MAX): the least busy worker gets the
first go, so a handful of keep-alive clients spread evenly. With SO_REUSEPORT (a socket
per worker) the kernel hashed each connection to a worker: 16 clients landed 2/14 in one
run of eight and 7/9 in three, and a client stays where it landed for its life.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import selectors
import socket
import ssl
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker

from gateway.http_worker.connection import Connection, State, Step, Timeouts
from gateway.http_worker.deadlines import Deadlines
from gateway.http_worker.framing import FrameLimits, Refusal, head_limit
from gateway.http_worker.replay import ReplaySource
from gateway.http_worker.tls import server_context

READ_SIZE = 65_536
ACCEPT_BATCH = 64  # connections accepted per readiness event, one worker alone
ACCEPT_STAGGER = 0.0005  # s a worker defers a new connection per connection it holds
ACCEPT_STAGGER_MAX = 0.005  # s at most
ACCEPT_STAGGER_GRACE = 0.02  # s after its pause in which a worker takes the connection
ACCEPT_PAUSE = 0.5  # out of file descriptors: stop accepting this long
FD_RESERVE = 256  # file descriptors besides connections (store, SMPP, logs, pipes)
WARN_INTERVAL = 60.0
HEARTBEAT_INTERVAL = 1.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
RETRY = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


@dataclass(frozen=True)
class WorkerSettings:
    """What the worker needs beyond gunicorn's settings; the application provides it."""

    request_read_timeout: float = 10.0
    max_body_bytes: int = 1_048_576
    tls_certificate: str = ""  # a path; empty: plain HTTP
    tls_key: str = field(default="", repr=False)  # PEM text (a secret)
    tls_client_ca: str = ""  # a path; set: client certificates required

    @classmethod
    def of(cls, app: Any) -> WorkerSettings:
        """The application's `http_worker_settings`, or the defaults."""
        settings = getattr(app, "http_worker_settings", None)
        return settings if isinstance(settings, cls) else cls()


class Conn(Connection):
    """A Connection with its socket side; only the main loop touches it, except while
    IN_THREAD."""

    def __init__(
        self,
        sock: socket.socket,
        client: Any,
        server: Any,
        limits: FrameLimits,
        timeouts: Timeouts,
        now: float,
        handshake: bool = False,
    ) -> None:
        super().__init__(limits, timeouts, now, handshake)
        self.sock = sock
        self.client = client
        self.server = server
        self.events = 0  # what the poller watches for (0: not registered)
        self.source = ReplaySource(sock)
        self.parser: Any = None


class BufferingThreadWorker(ThreadWorker):
    """gthread with the reading moved into the selector loop (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = WorkerSettings.of(self.app)
        cfg = self.cfg
        self.limits = FrameLimits(
            request_line=cfg.limit_request_line or 8190,
            head=head_limit(
                cfg.limit_request_line or 8190,
                cfg.limit_request_fields or 32768,
                cfg.limit_request_field_size or 8190,
            ),
            body=self.settings.max_body_bytes,
            chunk_line=cfg.limit_request_field_size or 8190,
        )
        self.timeouts = Timeouts(
            request_read=self.settings.request_read_timeout, keepalive=float(self.cfg.keepalive)
        )
        # gthread closes kept-alive connections beyond worker_connections - threads; here
        # idle connections cost no thread, so only the cap on all connections applies
        self.max_keepalived = self.worker_connections
        self.tls: ssl.SSLContext | None = None
        self.conns: set[Conn] = set()
        self.deadlines: Deadlines[Conn] = Deadlines()
        self._accept_paused_until = 0.0
        self._shared_listener = self.cfg.workers > 1 and not self.cfg.reuse_port
        self._deferred = False  # paused to let a less busy worker take a connection first
        self._last_heartbeat = -HEARTBEAT_INTERVAL
        self._warned: dict[str, float] = {}

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Connections beyond the threads wait in buffers, so gthread's warning does not apply."""

    def init_process(self) -> None:
        settings = self.settings
        if settings.tls_certificate:
            self.tls = server_context(
                settings.tls_certificate, settings.tls_key, settings.tls_client_ca
            )
        self._raise_fd_limit()
        super().init_process()  # runs the loop: last

    def _raise_fd_limit(self) -> None:
        """Room for worker_connections sockets; systemd's default soft limit is 1024."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.worker_connections + FD_RESERVE
        if soft == resource.RLIM_INFINITY or soft >= want:
            return
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
        if target < want:
            self.log.warning(
                "open file limit %d is below http.max_connections + %d; raise LimitNOFILE",
                target,
                FD_RESERVE,
            )

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        self.poller.register(
            self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks
        )
        while self.alive:
            self._heartbeat()
            self._update_accepting()
            self.wait_for_and_dispatch_events(timeout=self._select_timeout())
            if not self.is_parent_alive():
                break
            self._expire(time.monotonic())
        self._stop()

    def _stop(self) -> None:
        """Serve what is under way within graceful_timeout; idle connections get 2 s."""
        self.set_accept_enabled(False)
        now = time.monotonic()
        for conn in list(self.conns):
            if conn.stop(now):
                self._track(conn)
        give_up = now + self.cfg.graceful_timeout
        while self.conns and time.monotonic() < give_up:
            self._heartbeat()
            self.wait_for_and_dispatch_events(timeout=self._select_timeout())
            self._expire(time.monotonic())
        for conn in list(self.conns):
            if conn.state is not State.IN_THREAD:
                self._close(conn)
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def _heartbeat(self) -> None:
        """gunicorn's liveness signal, at most once a second: it is a utime() of a file,
        ~25 us a call, and gthread made it twice per request; the arbiter only needs it
        within `timeout` (30 s)."""
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
            self._last_heartbeat = now
            self.notify()

    def _select_timeout(self) -> float:
        now = time.monotonic()
        soonest = self.deadlines.wait(now)
        timeout = 1.0 if soonest is None else min(1.0, soonest)
        if self._accept_paused_until > now:
            timeout = min(timeout, self._accept_paused_until - now)
        return timeout

    def _update_accepting(self) -> None:
        below_cap = self.nr_conns < self.worker_connections
        wanted = self.alive and below_cap and time.monotonic() >= self._accept_paused_until
        if not below_cap:
            self._warn(
                "cap",
                "%d connections open (http.max_connections): new ones wait in the listen backlog",
                self.nr_conns,
            )
        if wanted != self._accepting:
            self.set_accept_enabled(wanted)

    def _warn(self, key: str, message: str, *args: Any) -> None:
        """A warning at most once a minute per kind: a flood must not flood the log too."""
        now = time.monotonic()
        if now - self._warned.get(key, -WARN_INTERVAL) >= WARN_INTERVAL:
            self._warned[key] = now
            self.log.warning(message, *args)

    # ---- accepting -----------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        if not self._shared_listener:
            self._accept_some(listener, ACCEPT_BATCH)
        elif self._defer_to_idler_workers():
            self._deferred = True
        else:
            self._deferred = False
            self._accept_some(listener, 1)

    def _defer_to_idler_workers(self) -> bool:
        """Pause accepting for a while proportional to the connections this worker holds,
        unless it paused just before (its turn now): see the module docstring."""
        now = time.monotonic()
        if self._deferred and now <= self._accept_paused_until + ACCEPT_STAGGER_GRACE:
            return False
        delay = min(self.nr_conns * ACCEPT_STAGGER, ACCEPT_STAGGER_MAX)
        if delay <= 0:
            return False
        self._accept_paused_until = now + delay
        self.set_accept_enabled(False)
        return True

    def _accept_some(self, listener: socket.socket, most: int) -> None:
        for _ in range(most):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client_sock, client_addr = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                    self._warn("fds", "cannot accept connections: %s", exc)
                    self.set_accept_enabled(False)
                    return
                if exc.errno == errno.ECONNABORTED:
                    continue
                raise
            self._open(client_sock, client_addr, listener.getsockname())

    def _open(self, client_sock: socket.socket, client_addr: Any, server: Any) -> None:
        client_sock.setblocking(False)
        sock = client_sock
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(
                    client_sock,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                )
            except OSError:  # the client is already gone
                with contextlib.suppress(OSError):
                    client_sock.close()
                return
        now = time.monotonic()
        tls = self.tls is not None
        conn = Conn(sock, client_addr, server, self.limits, self.timeouts, now, handshake=tls)
        self.nr_conns += 1
        self.conns.add(conn)
        conn.parser = http.get_parser(self.cfg, conn.source, conn.client)
        self._track(conn)
        self._watch(conn, selectors.EVENT_READ)

    # ---- readiness -----------------------------------------------------------------------

    def _ready(self, conn: Conn, _fileobj: Any) -> None:
        try:
            if conn.state is State.HANDSHAKE:
                self._handshake(conn)
            elif conn.state is State.READING:
                self._read(conn)
            elif conn.state is State.LINGERING:
                self._drain(conn)
        except Exception:  # one connection's surprise must not end the loop for all
            self.log.exception("error on the connection from %s", _ip(conn))
            self._close(conn)

    def _handshake(self, conn: Conn) -> None:
        assert isinstance(conn.sock, ssl.SSLSocket)
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, selectors.EVENT_WRITE)
            return
        except OSError as exc:  # SSLError included: not TLS, no shared version, no cert...
            self.log.debug("TLS handshake with %s failed: %s", _ip(conn), exc)
            self._close(conn)
            return
        conn.handshake_done()
        self._watch(conn, selectors.EVENT_READ)
        self._read(conn)  # the first request may already be decrypted and waiting

    def _read(self, conn: Conn) -> None:
        """Buffer what has arrived, then act on what the scanner makes of it."""
        eof = False
        try:
            while not conn.full:
                data = conn.sock.recv(READ_SIZE)
                if not data:
                    eof = True
                    break
                conn.buf += data
                if len(data) < READ_SIZE and not isinstance(conn.sock, ssl.SSLSocket):
                    break  # all the kernel had; the poller says when more comes (TLS reads
                    # return one record at a time, so those go on until told to wait)
        except RETRY:
            pass
        except OSError as exc:
            self.log.debug("reading from %s failed: %s", _ip(conn), exc)
            self._close(conn)
            return
        if conn.received(time.monotonic()):  # the request's own deadline starts
            self._track(conn)
        self._act(conn, eof)

    def _act(self, conn: Conn, eof: bool) -> None:
        step = conn.next_step(eof)
        if isinstance(step, Refusal) and step.by_application:
            self.log.debug("body refused from %s: %s", _ip(conn), step.message)
            self._dispatch(conn, truncated=True)  # it answers in the endpoint's format
        elif isinstance(step, Refusal):
            self._refuse(conn, step)
        elif step is Step.SERVE:
            self._dispatch(conn)
        elif step is Step.CLOSE:
            self._close(conn)  # the client left before its request was whole
        elif step is Step.CONTINUE:
            _send_quietly(conn.sock, CONTINUE)

    # ---- handing over to a request thread ------------------------------------------------

    def _dispatch(self, conn: Conn, truncated: bool = False) -> None:
        """A request thread serves what is buffered; `truncated`: nothing more is read for
        this request, and the connection closes after the answer."""
        self._unwatch(conn)
        conn.source.replay(conn.hand_over(), truncated)
        # Blocking, bounded: the thread should not need to read, but a response write to a
        # client that does not read must not hold the thread for ever.
        conn.sock.settimeout(self.settings.request_read_timeout)
        future = self.tpool.submit(self.handle, conn)
        future.add_done_callback(
            lambda done: self.method_queue.defer(self.finish_request, conn, done)
        )

    def handle(self, conn: Conn) -> bool:
        """Serve one buffered request in a request thread; True keeps the connection."""
        req = None
        try:
            req = next(conn.parser)
            req._expected_100_continue = False  # the body is here already (or refused)
            if conn.source.truncated:
                req.force_close()  # the rest of the refused body is never read
            return bool(self.handle_request(req, conn) and conn.parser.finish_body())
        except (http.errors.NoMoreData, StopIteration) as exc:
            self.log.debug("closing connection: %r", exc)
        except TimeoutError:
            self.log.debug("client %s did not take the response in time", _ip(conn))
        except ssl.SSLError as exc:
            self.log.debug("TLS error serving %s: %s", _ip(conn), exc)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
        return False

    def finish_request(self, conn: Conn, future: Future[bool]) -> None:
        """Back in the main loop: keep the connection for its next request, or close it."""
        if conn.state is State.CLOSED:
            return
        try:
            self._after_request(conn, future)
        except Exception:
            self.log.exception("error on the connection from %s", _ip(conn))
            self._close(conn)

    def _after_request(self, conn: Conn, future: Future[bool]) -> None:
        try:
            keep = bool(future.result())
        except BaseException:
            keep = False
        if not keep:
            self._linger(conn)
            return
        rest = conn.parser.unreader.take_buffered() + conn.source.take_rest()
        try:
            conn.sock.setblocking(False)
        except OSError:
            self._close(conn)
            return
        conn.next_request(rest, time.monotonic(), stopping=not self.alive)
        self._track(conn)
        self._watch(conn, selectors.EVENT_READ)
        if rest or _tls_pending(conn.sock):
            self._read(conn)  # a pipelined request, or TLS bytes the poller cannot see

    # ---- refusing, expiring, closing -----------------------------------------------------

    def _refuse(self, conn: Conn, refusal: Refusal) -> None:
        """Answer as gunicorn answers a request it cannot parse (its HTML error page)."""
        with contextlib.suppress(OSError):  # the socket is non-blocking: one short write
            util.write_error(conn.sock, refusal.status, refusal.reason, refusal.message)
        self.log.info(
            "refused a request from %s: %s %s", _ip(conn), refusal.status, refusal.message
        )
        self._linger(conn)

    def _linger(self, conn: Conn) -> None:
        """Half-close, then drain input for a while: closing with unread input would send
        a reset that can destroy the answer before the client reads it."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.linger(time.monotonic(), stopping=not self.alive)
        self._track(conn)
        self._watch(conn, selectors.EVENT_READ)

    def _drain(self, conn: Conn) -> None:
        try:
            while conn.drain_room() > 0:
                data = conn.sock.recv(READ_SIZE)
                if not data:
                    break
                conn.drained += len(data)
            else:
                self._close(conn)
                return
        except RETRY:
            return
        except OSError:
            pass
        self._close(conn)

    def _expire(self, now: float) -> None:
        for conn in self.deadlines.due(now):
            action = conn.expired()
            if isinstance(action, Refusal):
                self._refuse(conn, action)  # 408: the request did not come whole in time
            elif action is Step.CLOSE:
                self._close(conn)  # silent, idle, mid-handshake, or done lingering

    def _track(self, conn: Conn) -> None:
        """File the connection's deadline, after a change of it (connection.py)."""
        self.deadlines.file(conn, live=len(self.conns))

    def _watch(self, conn: Conn, events: int) -> None:
        callback = partial(self._ready, conn)
        if not conn.events:
            self.poller.register(conn.sock, events, callback)
        elif conn.events != events:
            self.poller.modify(conn.sock, events, callback)
        conn.events = events

    def _unwatch(self, conn: Conn) -> None:
        if conn.events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
            conn.events = 0

    def _close(self, conn: Conn) -> None:
        if conn.state is State.CLOSED:
            return
        self._unwatch(conn)
        conn.close()
        with contextlib.suppress(OSError):
            conn.sock.close()
        self.conns.discard(conn)
        self.nr_conns -= 1


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    """One non-blocking send of a short answer; a client that cannot take it goes without."""
    with contextlib.suppress(OSError):
        sock.send(data)


def _tls_pending(sock: socket.socket) -> bool:
    """Decrypted bytes held inside the TLS layer: the poller cannot see those."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _ip(conn: Conn) -> str:
    return str(conn.client[0]) if isinstance(conn.client, tuple) else str(conn.client)
