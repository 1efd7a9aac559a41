"""Pure parts of the API extras: bulk receivers and composition, usage periods and rows,
countries, XML rendering, idempotency hashing and the token bucket."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config_load import build_config
from gateway.countries import ALPHA3, UNKNOWN, country_of
from gateway.http.bulk_compose import compose_bulk, receivers
from gateway.http.compose import callback_url
from gateway.http.formats import to_xml
from gateway.http.idempotency import request_hash
from gateway.http.params import BadParameter
from gateway.model_api import ReceiverUsage
from gateway.usage import MAX_PERIOD_ERROR, PeriodError, format_cost, parse_period, usage_rows

CONFIG = build_config({"http": {"api_keys": ["k"]}}, {})
PARAMS = {"from": "MITTO SMS", "text": "Hello, World!"}


def bulk(params: dict, to: list[str]):
    ids = (uuid.UUID(int=i) for i in itertools.count(1))
    return compose_bulk(
        params, to, CONFIG, api_key_id="key", new_id=lambda: next(ids), created_at=1.0, stamp="T"
    )


# -- receivers -----------------------------------------------------------------------------


def test_receivers_from_array_and_comma_string_keep_order_and_duplicates() -> None:
    assert receivers(["+491725551234", 359888123456], 10) == ["+491725551234", "359888123456"]
    assert receivers("491725551234, 359888123456,491725551234", 10) == [
        "491725551234",
        "359888123456",
        "491725551234",
    ]
    assert receivers("", 10) == [] and receivers(None, 10) == []


def test_receivers_beyond_the_maximum_name_the_setting() -> None:
    with pytest.raises(BadParameter, match=r"3 receivers; at most 2 .*bulk_max_receivers"):
        receivers("1,2,3", 2)


@pytest.mark.parametrize("value", [{"a": 1}, True, 1.5])
def test_receivers_of_the_wrong_type_are_a_bad_parameter(value: object) -> None:
    with pytest.raises(BadParameter) as info:
        receivers(value, 10)
    assert info.value.name == "to"


def test_an_array_item_of_the_wrong_type_names_its_index() -> None:
    with pytest.raises(BadParameter) as info:
        receivers(["491725551234", None], 10)
    assert info.value.name == "to[1]"


# -- composing a bulk ------------------------------------------------------------------------


def test_one_bad_receiver_gets_its_own_code_and_the_rest_are_accepted_in_order() -> None:
    result = bulk(PARAMS, ["491725551234", "12ab", "", "359888123456", "491725551234"])
    body = result.body()
    assert body["responseCode"] == 0 and body["responseText"] == "SMS sent"
    assert [m.get("responseCode") for m in body["messages"]] == [None, 8, 7, None, None]
    assert [m["to"] for m in body["messages"]] == [
        "491725551234",
        "12ab",
        "",
        "359888123456",
        "491725551234",
    ]
    receivers_sent = [m.receiver for m in result.messages]
    assert receivers_sent == ["491725551234", "359888123456", "491725551234"]
    ok = body["messages"][0]
    assert set(ok) == {"id", "timestamp", "to", "textLength", "messageParts"}
    assert ok["id"] == result.messages[0].id and ok["textLength"] == 13
    assert len({m.id for m in result.messages}) == 3  # a duplicate is its own message


def test_a_problem_shared_by_every_receiver_refuses_the_batch() -> None:
    result = bulk({"from": "MITTO SMS", "text": ""}, ["491725551234", "359888123456"])
    body = result.body()
    assert body["responseCode"] == 3 and result.messages == []
    assert [m["responseCode"] for m in body["messages"]] == [3, 3]


def test_all_receivers_bad_is_the_first_code_and_nothing_to_store() -> None:
    body = bulk(PARAMS, ["x", ""]).body()
    assert body["responseCode"] == 8 and body["responseText"] == "Invalid receiver"
    assert bulk(PARAMS, []).body() == {
        "responseCode": 7,
        "responseText": "Empty receiver",
        "messages": [],
    }


def test_test_mode_answers_without_ids_and_stores_nothing() -> None:
    result = bulk({**PARAMS, "test": True}, ["491725551234"])
    body = result.body()
    assert body["test"] is True and result.messages == []
    assert "id" not in body["messages"][0]


# -- usage -----------------------------------------------------------------------------------


def test_periods_take_both_date_forms_and_31_days_at_most() -> None:
    period = parse_period("2020-02-15", "20200228")
    assert period.end - period.start == 14 * 86_400
    assert parse_period("2020-01-01", "2020-01-31").first.day == 1
    with pytest.raises(PeriodError) as info:
        parse_period("2020-01-01", "2020-02-01")
    assert str(info.value) == MAX_PERIOD_ERROR == "Maximum queryable period is 31 days"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2020-1-01", "2020-01-02", "startDate must be a date"),
        ("2020-02-30", "2020-03-01", "startDate is not a calendar date"),
        ("2020-01-05", "2020-01-01", "endDate must not be before startDate"),
        ("2020-01-01", None, "endDate is required"),
        ("2020-01-01\n", "2020-01-02", "startDate must be a date"),
        (20200101, "2020-01-02", "startDate must be a date"),
    ],
)
def test_bad_dates_say_what_is_wrong(start: object, end: object, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(start, end)


def test_usage_rows_group_by_country_with_strings_and_null_cost() -> None:
    rows = usage_rows(
        [
            ReceiverUsage("491725551234", 2, None),
            ReceiverUsage("4915112345678", 1, 1.4),
            ReceiverUsage("359888123456", 3, None),
            ReceiverUsage("12025550123", 1, None),
        ]
    )
    assert rows == [
        {"country": "BGR", "messagesCount": "3", "cost": None},
        {"country": "DEU", "messagesCount": "3", "cost": "1.4"},
        {"country": "USA", "messagesCount": "1", "cost": None},
    ]


def test_costs_are_plain_decimal_strings() -> None:
    assert [format_cost(c) for c in (None, 0.0, 1.4, 12.0, 0.1 + 0.2)] == [
        None,
        "0",
        "1.4",
        "12",
        "0.3",
    ]


def test_every_region_phonenumbers_knows_has_an_alpha3_code() -> None:
    missing = sorted(set(phonenumbers.SUPPORTED_REGIONS) - set(ALPHA3))
    assert missing == []
    assert all(len(code) == 3 and code.isupper() for code in ALPHA3.values())


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("491725551234", "DEU"),
        ("+359888123456", "BGR"),
        ("12025550123", "USA"),
        ("14165550123", "CAN"),  # +1 shared: the area code decides
        ("447624123456", "IMN"),  # +44 shared: Isle of Man mobile
        ("80012345678", UNKNOWN),  # non-geographic
        ("999123456", UNKNOWN),  # no such country code
    ],
)
def test_country_of_a_number(number: str, country: str) -> None:
    assert country_of(number) == country


# -- XML -------------------------------------------------------------------------------------


def test_xml_mirrors_the_json_fields() -> None:
    payload = {
        "responseCode": 0,
        "test": True,
        "skipped": None,
        "messages": [{"id": "a", "to": "49\x01"}, {"to": "x", "responseCode": 8}],
    }
    root = ET.fromstring(to_xml(payload))
    assert root.tag == "response"
    assert [child.tag for child in root] == ["responseCode", "test", "messages"]
    assert root.findtext("test") == "true" and root.findtext("responseCode") == "0"
    items = root.findall("messages/message")
    assert [i.findtext("to") for i in items] == ["49\ufffd", "x"]


@given(st.text())
def test_any_text_makes_well_formed_xml(text: str) -> None:
    assert ET.fromstring(to_xml({"detail": text})).tag == "response"


# -- idempotency hash, token bucket ---------------------------------------------------------


def test_request_hash_ignores_order_and_format_but_not_content_or_endpoint() -> None:
    a = request_hash("sms", {"to": "1", "text": "a", "format": "xml"})
    assert a == request_hash("sms", {"text": "a", "to": "1"})
    assert a != request_hash("sms", {"text": "b", "to": "1"})
    assert a != request_hash("smsbulk", {"text": "a", "to": "1"})


@pytest.mark.parametrize(
    ("url", "entries", "allowed"),
    [
        ("http://127.0.0.1:9000/cb", ("127.0.0.1",), True),
        ("http://127.0.0.1:9000/cb", ("127.0.0.1:9000",), True),
        ("http://127.0.0.1:9001/cb", ("127.0.0.1:9000",), False),
        ("https://hooks.example.com/cb", ("hooks.example.com:443",), True),
        ("http://hooks.example.com/cb", ("hooks.example.com:443",), False),
        ("https://a.example.org/cb", ("*.example.org",), True),
        ("https://example.org/cb", ("*.example.org",), False),
        ("https://evil-example.org/cb", ("*.example.org",), False),
        ("http://[::1]:8000/cb", ("[::1]:8000",), True),
        ("http://[::1]:8000/cb", ("::1",), True),
        ("http://169.254.169.254/latest", ("127.0.0.1", "localhost"), False),
        ("http://127.0.0.1/cb", (), False),
    ],
)
def test_callback_allow_list(url: str, entries: tuple[str, ...], allowed: bool) -> None:
    if allowed:
        assert callback_url({"callback": url}, entries) == url
    else:
        with pytest.raises(BadParameter) as refused:
            callback_url({"callback": url}, entries)
        assert refused.value.name == "callback"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "/relative", "http://127.0.0.1:99999/x"])
def test_callback_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(BadParameter, match="absolute"):
        callback_url({"callback": url}, ("127.0.0.1",))
