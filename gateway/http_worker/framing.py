"""Where one HTTP/1.1 request ends, decided from the bytes received so far (no I/O).

Why: the worker's selector loop (worker.py) gives a request to a request
thread only once the whole request is buffered, so a slow or silent client holds a few
bytes of memory instead of a thread. This scanner says whether the bytes so far hold a
whole request, need more, or must be refused without waiting for the rest.

gunicorn's parser stays the authority on what the request means: it parses the buffered
bytes again in the request thread. Where this scanner sees framing that gunicorn refuses
at once (two Content-Lengths, Content-Length with Transfer-Encoding, an unknown transfer
coding, chunked HTTP/1.0), it calls the head whole and lets gunicorn answer its 400,
which it does before reading any body.

Two kinds of refusal: a head over the limits (414, 431) or with a bare LF (400) is
answered by the worker, as gunicorn answered it before. A body over http.max_body_bytes,
or chunked framing that breaks, is handed to the application with what has arrived and
nothing after it (`Refusal.by_application`): the application answers in the endpoint's
own format (JSON or XML, gateway/http/body.py) without reading further, since the body is
known to exceed the limit (Content-Length, or more than the limit of chunk data buffered)
or gunicorn's chunk reader stops at the broken line.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gunicorn.http.body import CHUNK_EXT_RE

HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
# the header fields that decide where a request ends: name exactly as gunicorn reads it
# (no space before the colon), value up to the end of the line
FRAMING_FIELDS = re.compile(rb"\r\n(content-length|transfer-encoding|expect):([^\r]*)", re.I)
# chunk-size lines, trailers and tiny chunks cost wire bytes beyond the body itself
CHUNKED_OVERHEAD_BYTES = 65_536


class _Stage(enum.Enum):
    SIZE = "size"  # a chunk-size line comes next
    DATA = "data"  # chunk data and its CRLF
    TRAILER = "trailer"  # after the last chunk: the trailer section (gunicorn checks it)


class Verdict(enum.Enum):
    INCOMPLETE = "incomplete"  # wait for more bytes
    COMPLETE = "complete"  # a whole request is buffered (see RequestScanner.end)
    CONTINUE = "continue"  # head whole, Expect: 100-continue, body still to come


@dataclass(frozen=True)
class Refusal:
    """Refuse the request and close; the rest of it is not waited for.

    by_application: the application answers (see the module doc); else the worker answers
    `status` itself."""

    status: int
    reason: str
    message: str
    by_application: bool = False


@dataclass(frozen=True)
class FrameLimits:
    """Sizes past which a request is refused; the worker takes them from gunicorn's limits."""

    request_line: int  # gunicorn limit_request_line: longer is 414
    head: int  # request line plus header fields; longer is 431
    body: int  # http.max_body_bytes: a larger body is 413
    chunk_line: int = 8190  # a chunk-size line (gunicorn: limit_request_field_size)
    # a chunked body may take 2 * body + this on the wire (size lines, extensions, CRLFs)
    chunked_overhead: int = CHUNKED_OVERHEAD_BYTES


def head_limit(limit_request_line: int, fields: int, field_size: int) -> int:
    """The longest head gunicorn's parser accepts with these settings."""
    return limit_request_line + 2 + fields * (field_size + 2) + 4


class RequestScanner:
    """Scans one request in a buffer that only grows between calls; start a new one per request.

    Each call resumes where the last stopped, so a client sending one byte at a time
    costs a constant amount of work per byte.
    """

    def __init__(self, limits: FrameLimits) -> None:
        self.limits = limits
        self.end = -1  # once COMPLETE: the index just past the request
        self._searched = 0  # head: bytes already searched for the blank line
        self._lf_checked = 0  # head: bytes already checked for a bare LF
        self._line_ok = False  # head: the request line ended within its limit
        self._head_end = -1
        self._body_end = -1  # Content-Length: where the body ends
        self._chunked = False
        self._pos = 0  # chunked: where the next chunk-size line or chunk data starts
        self._chunk_left = 0  # chunked: data bytes of the current chunk
        self._stage = _Stage.SIZE
        self._body_bytes = 0
        self._expect_continue = False

    @property
    def head_complete(self) -> bool:
        return self._head_end >= 0

    def scan(self, buf: bytes | bytearray) -> Verdict | Refusal:
        """What `buf` (this request's bytes so far, maybe more after it) amounts to."""
        if self._head_end < 0:
            verdict = self._scan_head(buf)
            if verdict is not None:
                return verdict
        if self._chunked:
            verdict = self._scan_chunked(buf)
        elif len(buf) >= self._body_end:
            self.end = self._body_end
            return Verdict.COMPLETE
        else:
            verdict = Verdict.INCOMPLETE
        if verdict is Verdict.INCOMPLETE and self._expect_continue:
            self._expect_continue = False
            return Verdict.CONTINUE
        return verdict

    # ---- the head ----------------------------------------------------------------------

    def _scan_head(self, buf: bytes | bytearray) -> Verdict | Refusal | None:
        """None once the head is whole and names a body to wait for."""
        start = 2 if buf[:2] == b"\r\n" else 0  # RFC 9112 2.2: one empty line is ignored
        idx = buf.find(b"\r\n\r\n", max(start, self._searched - 3))
        self._searched = len(buf)
        head_end = len(buf) if idx < 0 else idx + 4
        refusal = self._check_bare_lf(buf, start, head_end) or self._check_request_line(buf, start)
        if refusal is not None:
            return refusal
        if head_end > self.limits.head:
            limit = self.limits.head
            return Refusal(431, "Request Header Fields Too Large", f"head over {limit} bytes")
        if idx < 0:
            return Verdict.INCOMPLETE
        self._head_end = head_end
        return self._framing(buf, start, idx + 2)

    def _check_bare_lf(self, buf: bytes | bytearray, start: int, end: int) -> Refusal | None:
        """gunicorn refuses a head line ending in a bare LF; refuse it before waiting on."""
        pos = max(start, self._lf_checked)
        # every LF from pos on must close a CRLF (whose CR may sit just before pos)
        pairs_from = pos - 1 if pos > start else pos
        if buf.count(b"\n", pos, end) != buf.count(b"\r\n", pairs_from, end):
            return Refusal(400, "Bad Request", "a line of the request head ends in a bare LF")
        self._lf_checked = end
        return None

    def _check_request_line(self, buf: bytes | bytearray, start: int) -> Refusal | None:
        if self._line_ok:
            return None
        limit = self.limits.request_line
        if buf.find(b"\r\n", start, start + limit + 2) >= 0:
            self._line_ok = True
        elif len(buf) - start > limit + 1:
            return Refusal(414, "URI Too Long", f"request line longer than {limit} bytes")
        return None

    def _framing(self, buf: bytes | bytearray, start: int, end: int) -> Verdict | Refusal | None:
        """How the body is framed, from the head in buf[start:end] (its final CRLF included)."""
        line_end = buf.find(b"\r\n", start, end)
        http11 = buf[line_end - 9 : line_end] == b" HTTP/1.1"
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for field in FRAMING_FIELDS.finditer(buf, line_end, end):
            name, value = field.group(1).upper(), field.group(2).strip(b" \t")
            if name == b"CONTENT-LENGTH":
                lengths.append(value)
            elif name == b"TRANSFER-ENCODING":
                codings += [c.strip(b" \t").lower() for c in value.split(b",")]
            elif value.lower() == b"100-continue":
                self._expect_continue = http11
        if codings:
            if codings[-1] != b"chunked" or codings.count(b"chunked") > 1 or lengths or not http11:
                return self._whole_head()  # gunicorn refuses this framing before any body
            self._chunked, self._pos = True, self._head_end
            return None
        if len(lengths) > 1 or (lengths and not (lengths[0].isascii() and lengths[0].isdigit())):
            return self._whole_head()
        length = int(lengths[0]) if lengths else 0
        if length > self.limits.body:
            return _too_large_body(self.limits.body)
        self._body_end = self._head_end + length
        return None

    def _whole_head(self) -> Verdict:
        self.end = self._head_end
        return Verdict.COMPLETE

    # ---- a chunked body ----------------------------------------------------------------

    def _scan_chunked(self, buf: bytes | bytearray) -> Verdict | Refusal:
        if len(buf) - self._head_end > 2 * self.limits.body + self.limits.chunked_overhead:
            return _too_large_body(self.limits.body)
        while self._stage is not _Stage.TRAILER:
            step = self._chunk_data(buf) if self._stage is _Stage.DATA else self._chunk_line(buf)
            if step is not None:
                return step
        if buf[self._pos : self._pos + 2] == b"\r\n":
            self.end = self._pos + 2
            return Verdict.COMPLETE
        end = buf.find(b"\r\n\r\n", self._pos)
        if end >= 0:
            self.end = end + 4
            return Verdict.COMPLETE
        if len(buf) - self._pos > self.limits.head:
            return _bad_chunk("trailer section too long")
        return Verdict.INCOMPLETE

    def _chunk_line(self, buf: bytes | bytearray) -> Verdict | Refusal | None:
        """Reads one chunk-size line; None when the scan can go on."""
        line_end = buf.find(b"\r\n", self._pos)
        if line_end < 0:
            if len(buf) - self._pos > self.limits.chunk_line:
                return _bad_chunk("chunk-size line too long")
            return Verdict.INCOMPLETE
        size = chunk_size(bytes(buf[self._pos : line_end]))
        if size is None:
            return _bad_chunk("invalid chunk-size line")
        self._pos = line_end + 2
        if size == 0:
            self._stage = _Stage.TRAILER
            return None
        self._chunk_left, self._stage = size, _Stage.DATA
        return None

    def _chunk_data(self, buf: bytes | bytearray) -> Verdict | Refusal | None:
        """One chunk's data and CRLF. More than the limit of data buffered is a 413, so the
        application, reading limit + 1 bytes, finds them all here."""
        over = self.limits.body - self._body_bytes  # data bytes still allowed
        if self._chunk_left > over and len(buf) - self._pos > over:
            return _too_large_body(self.limits.body)
        need = self._pos + self._chunk_left + 2
        if len(buf) < need:
            return Verdict.INCOMPLETE
        if buf[need - 2 : need] != b"\r\n":
            return _bad_chunk("chunk data not followed by CRLF")
        self._body_bytes += self._chunk_left
        self._pos, self._stage = need, _Stage.SIZE
        return None


def chunk_size(line: bytes) -> int | None:
    """The size a chunk-size line gives, or None where gunicorn would refuse the line."""
    size, semicolon, extension = line.partition(b";")
    if semicolon:
        if b"\r" in extension or not CHUNK_EXT_RE.fullmatch(b";" + extension):
            return None
        size = size.rstrip(b" \t")
    if not size or any(byte not in HEX_DIGITS for byte in size):
        return None
    return int(size, 16)


def _too_large_body(limit: int) -> Refusal:
    message = f"request body larger than {limit} bytes"
    return Refusal(413, "Content Too Large", message, by_application=True)


def _bad_chunk(what: str) -> Refusal:
    return Refusal(400, "Bad Request", f"malformed chunked body: {what}", by_application=True)
