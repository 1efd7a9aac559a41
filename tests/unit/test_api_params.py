"""Strict request decoding (gateway/http/params.py): one parser, bounded, no lenience.

The real-daemon side (chunked bodies, raw sockets, the log) is in
tests/integration/test_api_hostile.py.
"""

from __future__ import annotations

import json
import time

import pytest

from gateway.http.params import (
    MAX_JSON_DEPTH,
    BadParameter,
    BadRequest,
    check_unicode,
    decode_pairs,
    multipart_fields,
    parse_json,
    too_deep,
)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 50_000, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)],
)
def test_deep_nesting_is_a_400_not_a_recursion_error(raw: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(BadRequest, match="nested deeper than"):
        parse_json(raw)
    assert time.perf_counter() - started < 0.5


def test_nesting_up_to_the_limit_parses_and_brackets_in_strings_do_not_count() -> None:
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(deepest.encode()) is not None
    text = json.dumps({"text": "[" * 1000 + '\\"{' * 100, "to": ["1", "2"]})
    assert not too_deep(text, 2) and parse_json(text.encode())["to"] == ["1", "2"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "malformed JSON"),
        (b'{"a": "\xed\xa0\x80"}', "not valid utf-8"),  # a surrogate encoded as UTF-8
        (b'{"a": "\xff"}', "not valid utf-8"),
        (b'{"a": 1', "malformed JSON"),
        (b"\x00\x00\x00", "malformed JSON"),
    ],
)
def test_what_json_cannot_carry_is_a_400(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        parse_json(raw)


def test_json_encodings_the_rfc_allows_still_parse() -> None:
    assert parse_json('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # UTF-8 with a BOM


@pytest.mark.parametrize(
    ("value", "name"),
    [("\ud800", "reference"), (["ok", "\udfff"], "to"), ({"k\ud800": 1}, "extra")],
)
def test_a_lone_surrogate_anywhere_in_a_field_names_the_field(value: object, name: str) -> None:
    with pytest.raises(BadParameter, match="lone surrogate") as refused:
        check_unicode(name, value)
    assert refused.value.name == name
    check_unicode(name, "\U0001f600")  # a real pair is fine


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"from=Shop&text=%ZZ", "text"),
        (b"text=%E", "text"),
        (b"text=50%", "text"),
        (b"text=%ED%A0%80", "text"),  # a UTF-8 encoded surrogate
        (b"text=%C3", "text"),  # a truncated sequence
        (b"text=%FF", "text"),
        (b"%ZZ=1", "%ZZ"),
    ],
)
def test_invalid_escapes_and_utf8_are_400_naming_the_field(raw: bytes, name: str) -> None:
    with pytest.raises(BadParameter) as refused:
        decode_pairs(raw)
    assert refused.value.name == name


def test_query_strings_decode_as_werkzeug_did_for_valid_input() -> None:
    raw = b"from=Shop&text=a+b%20c%C3%A9&&flag&text=second&to=%2B41"
    assert decode_pairs(raw) == {"from": "Shop", "text": "a b cé", "flag": "", "to": "+41"}


def multipart(fields: dict[str, bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
        for name, value in fields.items()
    )
    return parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_fields_decode_strictly() -> None:
    body, ctype = multipart({"from": b"Shop", "text": "héllo".encode()})
    assert multipart_fields(body, ctype) == {"from": "Shop", "text": "héllo"}
    body, ctype = multipart({"text": b"\xed\xa0\x80"})
    with pytest.raises(BadParameter) as refused:
        multipart_fields(body, ctype)
    assert refused.value.name == "text"


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"garbage", "multipart/form-data; boundary=x"),
        (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
        (b"", "multipart/form-data"),
        (b"--\xe9\r\n", "multipart/form-data; boundary=\xe9"),
    ],
)
def test_malformed_multipart_is_a_400(body: bytes, ctype: str) -> None:
    with pytest.raises(BadRequest, match="multipart"):
        multipart_fields(body, ctype)
