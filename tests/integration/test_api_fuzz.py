"""Bounded HTTP fuzzing of the real daemon with hostile bytes (issue 11).

tests/integration/test_api_schemathesis.py generates requests from the OpenAPI document:
well-formed HTTP whose values break the schema. This test sends what a schema cannot
describe, byte for byte on a raw socket (tests/rawhttp.py): deep nesting, lone
surrogates (escaped and as raw UTF-8), NUL, huge and non-finite numbers, wrong JSON
types, invalid percent-escapes and raw non-ASCII bytes in query strings and form bodies,
broken multipart, odd or lying content types, chunked framing, bodies over the limit,
and hostile header values, on every endpoint (and a few that do not exist).

Each answer must be below 500. Afterwards the log has no traceback, /healthz answers and
the worker that answered is the one that started (one "worker ... ready" line). Fixed
(derandomized) seed, a fixed number of cases, SQLite only: it stays well under a minute.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from tests.integration.helpers import assert_worker_unharmed
from tests.rawhttp import RawResponse, raw_request

# CPU-hungry: `make test` runs it on one pytest-xdist worker with the other heavy ones
pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only, pytest.mark.xdist_group("heavy")]

CASES = 3000
LIMIT = 16_384  # http.max_body_bytes here: over-limit bodies are cheap to make
FIELDS = (
    "from", "to", "text", "type", "reference", "deliveryStatusesToNotify", "udh", "validity",
    "pid", "flash", "test", "callback", "format", "messageId", "startDate", "endDate",
    "accountName",
)  # fmt: skip
HOSTILE_TEXT = (
    "\ud800", "\udfff", "a\ud83d", "a\x00b", "\u202e", "é", "😀", "%ZZ", "\\", "", " ",
    "\r\n", "x" * 3000, "41791234567", "+41 79 123 45 67", "Shop", "DELIVERED,SENT",
    "2026-01-01", "2026-01-01T00:00:00Z", "default", "xml", "unicode", "binary", "0605040B8423F0",
    "http://127.0.0.1:9\\@cb.example/", "http://[abc/", "http://a＃@cb.example/",
    "http://127.0.0.1:9/cb", "true", "-1", "1e999", "NaN",
)  # fmt: skip
ESCAPES = (
    "%ZZ", "%", "%0", "%00", "%ED%A0%80", "%FF", "%C3", "%C3%A9", "%F0%9F%98%80", "+", "%2B",
    "%26", "%3D", "=", "&", "é", "\udc80", "\x7f", "\xff",
)  # fmt: skip
# characters from a short list, not all of Unicode: each class that matters is there
# (ASCII, controls, NUL, Latin-1, BMP, astral, surrogates, fullwidth look-alikes)
CHARS = (
    *"aZ09 +-_.,:;/?#&=%@[]{}\"\\<>~$",
    "\x00", "\x01", "\x7f", "\x80", "\xa0", "\xe9", "\xff", "\u0100", "\u202e", "\ufeff",
    "\uffff", "\U0001f600", "\ud800", "\udbff", "\udc00", "\udfff", "＃", "１",
)  # fmt: skip
CONTENT_TYPES = (
    "application/json", "application/json; charset=utf-16", "application/json; charset=\xff",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b0",
    "multipart/form-data", "multipart/form-data; boundary=\xe9", "application/xml", "",
    "*/*;;;=", 'application/json; charset=utf-8; x="unterminated',
)  # fmt: skip
ENDPOINTS = (
    ("POST", "/sms"), ("GET", "/sms"), ("POST", "/smsbulk"), ("POST", "/sms.xml"),
    ("GET", "/sms.json"), ("POST", "/smsbulk.xml"), ("POST", "/sms/converted"),
    ("POST", "/usage/bycountry"), ("GET", "/sms/{id}"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/status"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("PUT", "/sms"),
    ("DELETE", "/sms/{id}"), ("POST", "/nowhere"), ("GET", "/sms.yaml"),
)  # fmt: skip
IDS = ("abc", "%00", "%ED%A0%80", "%ZZ", "a" * 300, "..%2F..", "%FF", "\xff", "x%0Ay")


def _pool(seed: int, size: int, make: Callable[[random.Random], object]) -> tuple:
    """Values made once, from a fixed seed: hypothesis then picks among them in one draw,
    which keeps a few thousand cases fast (drawing every character costs ~1 ms a case)."""
    rng = random.Random(seed)
    return tuple(make(rng) for _ in range(size))


def _mixed_text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 8)))


def _scalar(rng: random.Random) -> object:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(HOSTILE_TEXT)
    if kind == 1:
        return _mixed_text(rng)
    if kind == 2:
        return rng.choice([None, True, False, 0, -1, 1, 255, 256, 20161, 2**63, -(2**63)])
    if kind == 3:
        return rng.randrange(10**20, 10**400)
    if kind == 4:
        return rng.choice([0.5, -0.0, 1e308, float("inf"), float("-inf"), float("nan")])
    return rng.randint(-(2**31), 2**31)


def _escaped_text(rng: random.Random) -> str:
    return "".join(rng.choice(ESCAPES + CHARS) for _ in range(rng.randint(0, 4)))


SCALARS = _pool(1, 400, _scalar)
NAMES = (*FIELDS, *_pool(2, 40, _mixed_text))
QUERY_VALUES = (*FIELDS, *HOSTILE_TEXT, *_pool(3, 300, _escaped_text))


@dataclass(frozen=True)
class Case:
    method: str
    target: bytes
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    chunked: bool


def _json_values() -> st.SearchStrategy[object]:
    """A scalar, a short list or a small object of them: wrong types for every field."""
    scalar = st.sampled_from(SCALARS)
    nested = st.dictionaries(st.sampled_from(NAMES), scalar, max_size=3)
    return scalar | st.lists(scalar | nested, max_size=3) | nested


def _encode_json(value: object, escape: bool) -> bytes:
    """ASCII with escapes, or raw UTF-8 with surrogates passed through as bytes."""
    return json.dumps(value, ensure_ascii=escape).encode("utf-8", "surrogatepass")


def _json_bodies() -> st.SearchStrategy[bytes]:
    documents = st.dictionaries(st.sampled_from(NAMES), _json_values(), max_size=6)
    return st.builds(_encode_json, documents | _json_values(), st.booleans())


def _nesting() -> st.SearchStrategy[bytes]:
    openers = st.sampled_from([b"[", b'{"a":', b'[{"to":', b'{"to":['])
    depth = st.sampled_from([1, 3, 31, 32, 33, 1000, 16_384, 100_000]) | st.integers(1, 100_000)
    return st.builds(lambda opener, n: opener * n, openers, depth)


def _numbers() -> st.SearchStrategy[bytes]:
    sizes = st.sampled_from([10, 4299, 4300, 4301, 20_000]) | st.integers(1, 20_000)
    digits = sizes.map(lambda n: b'{"to": 1' + b"0" * n + b"}")
    fixed = st.sampled_from(
        [b'{"validity": 1e999}', b'{"pid": -0}', b'{"text": NaN}', b'{"validity": 1.5}',
         b"[1e400]", b'{"pid": -Infinity}', b'{"validity": 1E+99999999999}']
    )  # fmt: skip
    return digits | fixed


def _pairs() -> st.SearchStrategy[str]:
    """`a=b&c=d` with hostile escapes and raw bytes in names and values."""
    name = st.sampled_from(QUERY_VALUES)
    pair = st.builds(
        lambda n, v, eq: f"{n}={v}" if eq else n, name, st.sampled_from(QUERY_VALUES), st.booleans()
    )
    return st.lists(pair, max_size=5).map("&".join)


def _multipart() -> st.SearchStrategy[bytes]:
    def part(name: str, value: bytes) -> bytes:
        head = f'--b0\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        return head.encode("utf-8", "surrogatepass") + value + b"\r\n"

    values = st.sampled_from([b"\xed\xa0\x80", b"Shop", b"41791234567", b"\xff", b"", b"--b0"])
    fields = st.lists(st.builds(part, st.sampled_from(NAMES), values), max_size=4)
    ending = st.sampled_from([b"--b0--\r\n", b"", b"--b0", b"garbage"])
    return st.builds(lambda parts, end: b"".join(parts) + end, fields, ending)


def _bodies() -> st.SearchStrategy[bytes | None]:
    form = _pairs().map(lambda text: text.encode("utf-8", "surrogatepass"))
    oversized = st.sampled_from([LIMIT, LIMIT + 1, 3 * LIMIT]).map(
        lambda n: b'{"text":"' + b"x" * n
    )
    return st.one_of(
        st.none(),
        _json_bodies(),
        _nesting(),
        _numbers(),
        form,
        _multipart(),
        oversized,
        st.binary(),
    )


def _headers() -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    latin1 = tuple(v for v in QUERY_VALUES if all(ord(c) <= 0xFF and c not in "\r\n" for c in v))
    key = st.sampled_from([API_KEY] * 6 + ["", "wrong", " " + API_KEY + " ", "é" * 50])
    key_header = st.sampled_from(["X-Mitto-API-Key", "x-mitto-api-key", "Authorization"])
    idem = st.none() | st.sampled_from(["k1", "k1", "", " ", "\x7f", "é" * 300, *latin1])
    extra = st.lists(
        st.tuples(
            st.sampled_from(["X-A", "X-Forwarded-For", "Expect", "Te"]), st.sampled_from(latin1)
        ),
        max_size=2,
    )
    accept = st.none() | st.sampled_from(["application/xml", "*/*", "\xff", ""])

    def build(kh: str, k: str, ctype: str, i: str | None, e: list, a: str | None) -> tuple:
        value = f"Bearer {k}" if kh == "Authorization" else k
        items = [(kh, value), ("Content-Type", ctype), *e]
        items += [("Idempotency-Key", i)] if i is not None else []
        items += [("Accept", a)] if a is not None else []
        return tuple(items)

    return st.builds(build, key_header, key, st.sampled_from(CONTENT_TYPES), idem, extra, accept)


def _target(path: str, message_id: str, query: str) -> bytes:
    path = path.replace("{id}", message_id)
    raw = f"{path}?{query}" if query else path
    # a request line carries no space, CR or LF: those would end it (gunicorn's 400)
    cleaned = "".join(c for c in raw if c not in " \t\r\n#")
    return cleaned.encode("utf-8", "surrogatepass")


def cases() -> st.SearchStrategy[Case]:
    """Built once per test: a strategy made inside each draw costs more than the request."""

    def case(
        endpoint: tuple[str, str],
        message_id: str,
        query: str,
        body: bytes | None,
        headers: tuple[tuple[str, str], ...],
        chunked: bool,
    ) -> Case:
        method, path = endpoint
        return Case(method, _target(path, message_id, query), body, headers, chunked)

    return st.builds(
        case,
        st.sampled_from(ENDPOINTS),
        st.sampled_from(IDS),
        _pairs(),
        _bodies(),
        _headers(),
        st.booleans(),
    )


def send(gateway: GatewayProcess, case: Case) -> RawResponse:
    return raw_request(
        gateway.port,
        case.method,
        case.target,
        case.body,
        headers=case.headers,
        chunked=case.chunked,
    )


@pytest.fixture
def fuzzed(sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway(
        sim.port,
        http={
            "max_body_bytes": LIMIT,
            "conversion_tracking": True,
            "conversion_rate": 10_000.0,
            "conversion_burst": 10_000,
        },
    )


def test_hostile_requests_get_no_5xx_and_leave_the_worker_unharmed(fuzzed: GatewayProcess):
    statuses: Counter[int] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=CASES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(cases())
    def one_request(case: Case) -> None:
        answer = send(fuzzed, case)
        statuses[answer.status] += 1
        assert answer.status < 500, (case, answer)

    one_request()
    elapsed = time.monotonic() - started
    assert sum(statuses.values()) >= CASES, statuses
    # the cases reach every layer: accepted sends, refusals, the body bound, auth
    assert {200, 400, 401, 404, 413} <= set(statuses), statuses
    assert statuses[200] >= 50 and statuses[400] >= 500 and statuses[413] >= 5, statuses
    assert_worker_unharmed(fuzzed)
    assert elapsed < 60, f"{CASES} cases took {elapsed:.0f} s"
