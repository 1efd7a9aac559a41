"""The pycurl transport: one thread drives up to `concurrency` transfers (libcurl multi).

Why: measured with bench/webhook_client.py, a webhook POST costs the client 26-38 µs of
CPU here against 167-267 µs with urllib3 on threads (docs/benchmarks.md, "Webhook
client"): libcurl reads and writes HTTP in C, and one thread waiting on every socket
(select() on libcurl's fdset) costs no GIL hand-offs between threads.

What it keeps from the urllib3 transport (gateway/webhooks/transport.py lists the
promises, tests/unit/test_dispatcher.py runs them on both):

- where the request goes: the URL handed to libcurl is only `scheme://host[:port]/` of
  the checked target (components that cannot be read two ways), CURLOPT_CONNECT_TO pins
  the connection to the target's host and port whatever libcurl made of it, and the
  request URI goes on the request line verbatim (CURLOPT_REQUEST_TARGET: not parsed or
  normalised again by libcurl, and the signature covers it); no proxy,
  whatever the environment says (CURLOPT_PROXY ""); http and https only; redirects not
  followed;
- trust: peer and host name verified against the CA file and directory Python's ssl
  module uses by default (ssl.get_default_verify_paths(): SSL_CERT_FILE/SSL_CERT_DIR,
  else OpenSSL's default paths), TLS 1.2 at least, HTTP/1.1;
- CURLOPT_TIMEOUT_MS: webhooks.timeout for the whole request; at most MAX_ANSWER + 1
  bytes of an answer's body kept, then the transfer is cut (the connection goes with
  it); a body that broke off after a complete answer head is `content` None;
- keep-alive: at most `concurrency` connections, open and kept (the multi handle's
  connection cache); the transfers' handles are reused, what varies set anew per request.

The thread (`webhook-transfers`) waits on the sockets libcurl asks for and on a bell
(`wake()`: new jobs), and takes jobs only while it has a free transfer; when idle it
waits on the dispatcher's hand-off queue. On stop it takes nothing more, lets the
transfers in flight end (each within webhooks.timeout), closes its connections and ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pycurl

from gateway.webhooks.attempt import strip_urls
from gateway.webhooks.transport import MAX_ANSWER, RETRY_AFTER_STATUSES, Job, Jobs, Reply

log = logging.getLogger("gateway.webhooks")

MAX_WAIT = 1.0  # seconds the loop waits on its sockets at most
NOTHING_TO_WATCH = 0.1  # seconds to wait while libcurl has no socket to watch
_SUPPRESSED = ["Accept:", "Expect:"]  # headers libcurl adds on its own: not sent
_NO_CONTENT_TYPE = "Content-Type:"  # libcurl would send a form type with any body


@dataclass(frozen=True)
class Trust:
    """The CA certificates https receivers are verified against: a file and/or a
    directory of hashed certificates; None: none of that kind."""

    cafile: str | None
    capath: str | None

    @classmethod
    def system(cls) -> Trust:
        """What Python's ssl.create_default_context() (and so urllib3) trusts."""
        paths = ssl.get_default_verify_paths()
        return cls(paths.cafile, paths.capath)


class CurlTransport:
    """See the module docstring."""

    def __init__(self, concurrency: int, timeout: float, trust: Trust | None = None) -> None:
        self._concurrency = concurrency
        self._timeout_ms = max(1, round(timeout * 1000))
        self._trust = trust or Trust.system()
        self._bell, self._ring = socket.socketpair()
        self._bell.setblocking(False)
        self._ring.setblocking(False)

    def loops(self, jobs: Jobs) -> list[tuple[str, Callable[[], None]]]:
        return [("webhook-transfers", partial(self._run, jobs))]

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # the bell is full: it rings anyway
            self._ring.send(b"\0")

    def close(self) -> None:
        """Nothing left: the loop closed its connections when it ended."""

    def _run(self, jobs: Jobs) -> None:
        driver = _Driver(jobs, self._bell, self._concurrency, self._transfer)
        try:
            driver.run()
        finally:
            driver.close()

    def _transfer(self) -> _Transfer:
        return _Transfer(self._timeout_ms, self._trust)


class _Driver:
    """One run of the loop: the multi handle, the transfers, the waiting in between.

    libcurl's classic multi loop: curl_multi_perform moves every transfer as far as its
    sockets allow, then select() waits on the sockets curl_multi_fdset names (and the
    bell) no longer than curl_multi_timeout says. Measured cheaper than the socket and
    timer callbacks (CURLMOPT_SOCKETFUNCTION: two Python calls and epoll changes per
    request). select() sees descriptors below FD_SETSIZE (1024) only; should the
    process ever hold more, waits fall back to libcurl's own and a transfer on a higher
    one is looked at after MAX_WAIT at the latest: slower, never lost."""

    def __init__(
        self,
        jobs: Jobs,
        bell: socket.socket,
        concurrency: int,
        new_transfer: Callable[[], _Transfer],
    ) -> None:
        self._jobs = jobs
        self._bell = bell
        self._bell_fd = bell.fileno()
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, concurrency)
        multi.setopt(pycurl.M_MAXCONNECTS, concurrency)
        multi.setopt(pycurl.M_PIPELINING, 0)
        self._multi = multi
        self._transfers = [new_transfer() for _ in range(concurrency)]
        self._idle = list(self._transfers)
        self._busy: dict[pycurl.Curl, _Transfer] = {}

    def run(self) -> None:
        while self._busy or not self._jobs.stopping():
            try:
                self._start_jobs()
                if self._busy:
                    self._perform()
                    if not self._collect():
                        self._wait()
            except Exception:  # the loop outlives any one failure
                log.exception("webhook transfers: unexpected error")
                time.sleep(0.1)  # no busy loop should the failure repeat

    def close(self) -> None:
        for curl in list(self._busy):
            self._multi.remove_handle(curl)
        self._busy.clear()
        self._multi.close()  # closes the kept-alive connections
        for transfer in self._transfers:
            transfer.curl.close()

    def _start_jobs(self) -> None:
        """Fill idle transfers; wait for a job only when nothing is in flight."""
        while self._idle and not self._jobs.stopping():
            job = self._jobs.take(wait=not self._busy)
            if job is None:
                return
            transfer = self._idle.pop()
            transfer.prepare(job)
            self._busy[transfer.curl] = transfer
            self._multi.add_handle(transfer.curl)

    def _perform(self) -> None:
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass

    def _collect(self) -> int:
        """Hand the finished transfers' replies over; how many there were."""
        finished = 0
        while True:
            remaining, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                self._finish(curl, 0, "")
            for curl, code, message in failed:
                self._finish(curl, code, message)
            finished += len(succeeded) + len(failed)
            if not remaining:
                return finished

    def _finish(self, curl: pycurl.Curl, code: int, message: str) -> None:
        transfer = self._busy.pop(curl)
        self._multi.remove_handle(curl)
        job, reply = transfer.finish(code, message)
        self._idle.append(transfer)
        self._jobs.done(job, reply)

    def _wait(self) -> None:
        """Until a socket of a transfer is ready, libcurl's timeout, or the bell."""
        reads, writes, errors = self._multi.fdset()
        timeout_ms = self._multi.timeout()
        timeout = MAX_WAIT if timeout_ms < 0 else min(MAX_WAIT, timeout_ms / 1000)
        if not (reads or writes or errors):  # resolving, say: libcurl suggests ~100 ms
            timeout = min(timeout, NOTHING_TO_WATCH)
        if timeout <= 0:
            return
        try:
            ready = select.select([*reads, self._bell_fd], writes, errors, timeout)[0]
        except ValueError:  # a descriptor beyond FD_SETSIZE
            self._multi.select(timeout)
            return
        if self._bell_fd in ready:
            try:
                while self._bell.recv(4096):
                    pass
            except OSError:  # empty (BlockingIOError)
                pass


class _Transfer:
    """One easy handle, reused for request after request, and what its answer brought."""

    def __init__(self, timeout_ms: int, trust: Trust) -> None:
        self.job: Job | None = None
        self.head: list[bytes] = []  # header lines as received, status lines included
        self.body = bytearray()
        curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.TIMEOUT_MS, timeout_ms)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.PROXY, "")  # not even one from http_proxy & co.
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2)
        curl.setopt(pycurl.SSLVERSION, pycurl.SSLVERSION_TLSv1_2)
        for option, value in ((pycurl.CAINFO, trust.cafile), (pycurl.CAPATH, trust.capath)):
            if value:
                curl.setopt(option, value)
            else:
                curl.unsetopt(option)  # none: not libcurl's built-in default either
        curl.setopt(pycurl.HEADERFUNCTION, self.head.append)
        curl.setopt(pycurl.WRITEFUNCTION, self._write)
        self.curl = curl
        self._custom_method = False

    def prepare(self, job: Job) -> None:
        request, target = job.request, job.request.target
        self.job = job
        self.head.clear()
        self.body.clear()
        curl = self.curl
        curl.setopt(pycurl.URL, f"{target.scheme}://{target.shown_host}/")
        curl.setopt(pycurl.REQUEST_TARGET, target.request_uri)
        curl.setopt(pycurl.CONNECT_TO, [f"::{target.url_host}:{target.port}"])
        headers = [f"{name}: {value}" for name, value in request.headers.items()]
        headers += _SUPPRESSED
        if request.method == "GET":
            curl.setopt(pycurl.HTTPGET, 1)
        else:
            curl.setopt(pycurl.POSTFIELDS, request.body or b"")
            if "Content-Type" not in request.headers:
                headers.append(_NO_CONTENT_TYPE)
        if request.method not in ("GET", "POST"):
            curl.setopt(pycurl.CUSTOMREQUEST, request.method)
            self._custom_method = True
        elif self._custom_method:
            curl.unsetopt(pycurl.CUSTOMREQUEST)
            self._custom_method = False
        curl.setopt(pycurl.HTTPHEADER, headers)

    def _write(self, chunk: bytes) -> int | None:
        """CURLOPT_WRITEFUNCTION: keep up to MAX_ANSWER + 1 bytes, then cut the transfer."""
        body = self.body
        body += chunk
        if len(body) > MAX_ANSWER:
            del body[MAX_ANSWER + 1 :]
            return 0  # libcurl ends the transfer (CURLE_WRITE_ERROR) and its connection
        return None

    def finish(self, code: int, message: str) -> tuple[Job, Reply]:
        """The job this transfer carried and its reply, from libcurl's result `code`."""
        job, self.job = self.job, None
        assert job is not None
        try:
            reply = self._reply(code, message)
        except Exception as exc:  # never lose the job to a bug here: it is retried
            log.exception("webhook %s: unexpected error", job.item.row.id)
            reply = Reply(None, error=f"{type(exc).__name__}: {exc}")
        return job, reply

    def _reply(self, code: int, message: str) -> Reply:
        status = int(self.curl.getinfo(pycurl.RESPONSE_CODE))
        head = self.head
        answered = status > 0 and bool(head) and head[-1].strip() == b""  # a whole head
        if not answered:
            return Reply(None, error=self._error(code, message))
        content: bytes | None = bytes(self.body)
        if code and not (code == pycurl.E_WRITE_ERROR and len(self.body) > MAX_ANSWER):
            content = None  # the body broke off (or timed out)
        if 200 <= status < 300:
            return Reply(status, "", content)
        reason, retry_after = _read_head(head, status in RETRY_AFTER_STATUSES)
        return Reply(status, reason, content, retry_after)

    def _error(self, code: int, message: str) -> str:
        text = message or "no answer"
        errno = self.curl.getinfo(pycurl.OS_ERRNO)
        if errno:
            text += f" ({os.strerror(errno)})"
        return f"curl error {code}: {strip_urls(text)}"


def _read_head(head: list[bytes], want_retry_after: bool) -> tuple[str, str | None]:
    """The reason phrase and the Retry-After value of the last answer head in `head`
    (header lines as libcurl passed them, interim 1xx heads included)."""
    start = max(i for i, line in enumerate(head) if line.startswith(b"HTTP/"))
    status_line = head[start].decode("iso-8859-1").split(None, 2)
    reason = status_line[2].strip() if len(status_line) > 2 else ""
    retry_after = None
    if want_retry_after:
        values = [
            line.split(b":", 1)[1].strip().decode("iso-8859-1")
            for line in head[start + 1 :]
            if line[:12].lower() == b"retry-after:"
        ]
        retry_after = ", ".join(values) if values else None
    return reason, retry_after
