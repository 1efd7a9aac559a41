"""The request scanner of the HTTP worker: when a request is whole, when it is refused."""

from __future__ import annotations

import pytest

from gateway.http_worker.framing import FrameLimits, Refusal, RequestScanner, Verdict, chunk_size

LIMITS = FrameLimits(request_line=100, head=400, body=1000, chunk_line=50)
POST = b"POST /sms HTTP/1.1\r\nHost: x\r\n"


def scan_bytewise(data: bytes, limits: FrameLimits = LIMITS) -> tuple[list, RequestScanner]:
    """Feed `data` one byte at a time, as a slow client would; every verdict on the way."""
    scanner = RequestScanner(limits)
    verdicts = [scanner.scan(data[: i + 1]) for i in range(len(data))]
    return verdicts, scanner


def test_a_head_without_body_is_whole_at_its_blank_line_and_not_before():
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    verdicts, scanner = scan_bytewise(request)
    assert verdicts[:-1] == [Verdict.INCOMPLETE] * (len(request) - 1)
    assert verdicts[-1] is Verdict.COMPLETE and scanner.end == len(request)


def test_a_content_length_body_is_waited_for_and_pipelined_bytes_are_left_after_it():
    body = b'{"text":"hi"}'
    request = POST + b"Content-Length: %d\r\n\r\n" % len(body) + body
    verdicts, scanner = scan_bytewise(request)
    assert scanner.end == len(request)
    assert verdicts[-2] is Verdict.INCOMPLETE and verdicts[-1] is Verdict.COMPLETE
    follower = RequestScanner(LIMITS)
    assert follower.scan(request + b"GET / HTTP/1.1\r\n") is Verdict.COMPLETE
    assert follower.end == len(request)


def test_a_content_length_over_the_limit_is_413_as_soon_as_the_head_is_whole():
    verdict = RequestScanner(LIMITS).scan(POST + b"Content-Length: 1001\r\n\r\n")
    assert isinstance(verdict, Refusal) and verdict.status == 413
    assert verdict.by_application  # it answers in the endpoint's format, reading nothing
    assert "1000" in verdict.message


def test_expect_100_continue_is_asked_for_once_while_the_body_is_missing():
    head = POST + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    scanner = RequestScanner(LIMITS)
    assert scanner.scan(head) is Verdict.CONTINUE
    assert scanner.scan(head + b"x") is Verdict.INCOMPLETE
    assert scanner.scan(head + b"xy") is Verdict.COMPLETE


def test_a_chunked_body_is_whole_after_its_last_chunk_and_trailer_section():
    request = POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;a=b\r\n ok\r\n0\r\n\r\n"
    verdicts, scanner = scan_bytewise(request)
    assert Verdict.COMPLETE not in verdicts[:-1]
    assert verdicts[-1] is Verdict.COMPLETE and scanner.end == len(request)
    trailed = request[:-2] + b"X-Checksum: 1\r\n\r\n"  # gunicorn checks trailer fields
    verdicts, scanner = scan_bytewise(trailed)
    assert Verdict.COMPLETE not in verdicts[:-1] and scanner.end == len(trailed)


def test_a_chunked_body_is_413_once_more_than_the_limit_of_data_has_arrived():
    """Not when a size is announced: the application reads limit + 1 bytes and must find
    them buffered."""
    head = POST + b"Transfer-Encoding: chunked\r\n\r\n"
    scanner = RequestScanner(LIMITS)
    first = head + b"200\r\n" + b"a" * 0x200 + b"\r\n200\r\n"  # 1024 announced, 512 here
    assert scanner.scan(first) is Verdict.INCOMPLETE
    assert scanner.scan(first + b"b" * 488) is Verdict.INCOMPLETE  # 1000: the limit
    verdict = scanner.scan(first + b"b" * 489)
    assert isinstance(verdict, Refusal) and verdict.status == 413 and verdict.by_application


def test_many_tiny_chunks_cannot_grow_the_buffer_past_twice_the_limit_and_some():
    limits = FrameLimits(request_line=100, head=400, body=1000, chunked_overhead=1000)
    chunk = b"1;" + b"e" * 40 + b"\r\nx\r\n"  # 47 bytes on the wire for 1 byte of body
    verdict = RequestScanner(limits).scan(POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 70)
    assert isinstance(verdict, Refusal) and verdict.status == 413


@pytest.mark.parametrize(
    "body",
    [b"z\r\n", b"5\r\nhelloXX", b"5;\x01\r\nhello\r\n", b"1" * 60, b"0\r\nX: " + b"t" * 400],
)
def test_malformed_chunked_framing_goes_to_the_application_as_is(body):
    """gunicorn's chunk reader stops at the broken part and the application answers 400."""
    verdict = RequestScanner(LIMITS).scan(POST + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert isinstance(verdict, Refusal) and verdict.status == 400 and verdict.by_application


def test_a_long_request_line_is_414_and_a_long_head_431_without_waiting_for_the_end():
    line = RequestScanner(LIMITS).scan(b"GET /" + b"a" * 100)
    assert isinstance(line, Refusal) and line.status == 414 and not line.by_application
    head = RequestScanner(LIMITS).scan(POST + b"X-Long: " + b"b" * 400)
    assert isinstance(head, Refusal) and head.status == 431 and not head.by_application


def test_a_bare_lf_in_the_head_is_400_but_not_in_the_body():
    bare = RequestScanner(LIMITS).scan(b"GET / HTTP/1.1\nHost: x")
    assert isinstance(bare, Refusal) and bare.status == 400
    body = b'{\n  "text": "a"\n}\n'
    request = POST + b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert RequestScanner(LIMITS).scan(request) is Verdict.COMPLETE


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 3\r\nContent-Length: 3\r\n",
        b"Content-Length: +3\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked, chunked\r\n",
    ],
)
def test_framing_gunicorn_refuses_is_handed_over_at_the_end_of_the_head(headers):
    """gunicorn answers these 400 before reading a body: nothing to wait for."""
    head = POST + headers + b"\r\n"
    scanner = RequestScanner(LIMITS)
    assert scanner.scan(head) is Verdict.COMPLETE and scanner.end == len(head)


def test_one_leading_empty_line_is_skipped_as_gunicorn_does():
    request = b"\r\nGET / HTTP/1.1\r\n\r\n"
    scanner = RequestScanner(LIMITS)
    assert scanner.scan(request) is Verdict.COMPLETE and scanner.end == len(request)


def test_chunk_size_lines_as_gunicorn_reads_them():
    assert chunk_size(b"1aF") == 0x1AF
    assert chunk_size(b"10 ;name=value") == 16
    assert chunk_size(b"10 ") is None  # trailing space only before an extension
    assert chunk_size(b"") is None and chunk_size(b"-1") is None and chunk_size(b"0x5") is None
