"""Unit tests for gateway.webhooks.templates: the three placeholder spellings, escaping."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.webhooks.templates import (
    CALLBACK_PARAMETERS,
    KNOWN_NAMES,
    fill_body,
    fill_url,
    has_placeholders,
)

#: The one real account template on record (research notes section 2, source S9).
PROVIDER_BODY = (
    '{"Id":"~msgid~","MccMnc":"~mcc~~mnc~","status":"~status~","receiver":"~receiver~",'
    '"errorcode":"~errorcode~","reference":"~reference~","sendtime":"~sendtime~",'
    '"sendtimestamp":"~sendtimestamp~"}'
)
VALUES = st.fixed_dictionaries({name: st.text(max_size=30) for name in KNOWN_NAMES})


def test_three_spellings_and_any_case():
    values = {"msgid": "m1", "status": "DELIVERED", "errorcode": "0"}
    template = "<msgid> $Status$ ~ERRORCODE~ <MsgId>"
    assert fill_body(template, values) == "m1 DELIVERED 0 m1"
    assert has_placeholders(template)


def test_unknown_names_and_stray_delimiters_left_alone():
    template = "a <b> < msgid> $ $msgid ~nope~ <msgid $$ ~~ <<msgid>>"
    assert fill_url(template, {"msgid": "7"}) == "a <b> < msgid> $ $msgid ~nope~ <msgid $$ ~~ <7>"


def test_missing_value_fills_empty_and_values_are_not_rescanned():
    assert fill_body("[~mcc~~mnc~]", {"mcc": "228"}) == "[228]"
    assert fill_body("~msgid~/~status~", {"msgid": "~status~", "status": "X"}) == "~status~/X"


def test_url_values_cannot_change_the_url_shape():
    url = fill_url(
        "https://h/cb?id=<msgid>&r=$reference$", {"msgid": "a&b=c", "reference": "x #/+"}
    )
    assert url == "https://h/cb?id=a%26b%3Dc&r=x%20%23%2F%2B"


def test_body_escapes_json_and_keeps_non_ascii_readable():
    body = fill_body('{"t":"~content~"}', {"content": 'Grüße "€"\n\\ \ud800'})
    assert body == '{"t":"Grüße \\"€\\"\\n\\\\ \\ud800"}'
    body.encode("utf-8")  # lone surrogate escaped, so the body always encodes


def test_custom_name_set_and_non_str_values():
    assert fill_url("<a>-<msgid>", {"a": 5, "msgid": "m"}, names=["A"]) == "5-<msgid>"
    assert fill_url("<a>", {"a": "x"}, names=[]) == "<a>"
    assert not has_placeholders("<msgid>", names=())


def test_callback_parameters_match_the_provider_table():
    assert CALLBACK_PARAMETERS == (
        "msgid",
        "sendtime",
        "status",
        "receiver",
        "mcc",
        "mnc",
        "cost",
        "errorcode",
        "sendtimestamp",
        "reference",
    )
    assert {"coding", "sender", "content"} <= set(KNOWN_NAMES)


@given(VALUES)
def test_provider_body_round_trips_through_json(values):
    parsed = json.loads(fill_body(PROVIDER_BODY, values))
    assert parsed["Id"] == values["msgid"]
    assert parsed["MccMnc"] == values["mcc"] + values["mnc"]
    for name in ("status", "receiver", "errorcode", "reference", "sendtime", "sendtimestamp"):
        assert parsed[name] == values[name]


@given(VALUES, st.permutations(CALLBACK_PARAMETERS))
def test_url_round_trips_through_query_parsing(values, order):
    delimiters = ("<{}>", "${}$", "~{}~")
    query = "&".join(
        f"{name}={delimiters[index % 3].format(name)}" for index, name in enumerate(order)
    )
    url = fill_url(f"https://example.com/cb/<msgid>?{query}", values)
    parts = urlsplit(url)
    assert dict(parse_qsl(parts.query, keep_blank_values=True)) == {
        name: values[name] for name in order
    }
    assert parts.hostname == "example.com" and not parts.fragment


@given(st.text(max_size=200))
def test_templates_without_placeholders_are_unchanged(template):
    assume(not has_placeholders(template))
    assert fill_url(template, {"msgid": "x"}) == template
    assert fill_body(template, {"msgid": "x"}) == template


@given(
    st.text(alphabet=st.sampled_from(list("<>$~msgidSTATUS x")) | st.characters(), max_size=80),
    st.dictionaries(st.sampled_from(KNOWN_NAMES), st.text(max_size=10)),
)
def test_arbitrary_templates_never_raise(template, values):
    fill_url(template, values)
    fill_body(template, values)
    has_placeholders(template)
