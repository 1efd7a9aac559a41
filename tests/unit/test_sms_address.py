"""Receiver normalisation and sender/receiver SMPP addresses (responseCodes 5-8)."""

from __future__ import annotations

import pytest

from gateway.sms import Address, SmsError, normalize_receiver, receiver_address, sender_address


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("491725551234", "491725551234"),
        ("+491725551234", "491725551234"),
        ("00491725551234", "491725551234"),
        ("  +41751231234 \n", "41751231234"),
        ("\t0041751231234", "41751231234"),
        ("6834002", "6834002"),  # 7 digits: Niue
        ("123456789012345", "123456789012345"),  # 15 digits: the E.164 maximum
    ],
)
def test_normalize_receiver(given, expected):
    assert normalize_receiver(given) == expected


@pytest.mark.parametrize("given", [None, "", "   ", "\n\t"])
def test_empty_receiver(given):
    with pytest.raises(SmsError) as info:
        normalize_receiver(given)
    assert (info.value.code, info.value.text) == (7, "Empty receiver")


@pytest.mark.parametrize(
    "given",
    [
        "0491725551234",  # national format
        "+00491725551234",
        "000491725551234",
        "++491725551234",
        "+49 172 5551234",
        "49-172-5551234",
        "(49)1725551234",
        "683400",  # 6 digits
        "1234567890123456",  # 16 digits
        "+",
        "00",
        "4917255512ab",
        "٤٩١٧٢٥٥٥١٢٣٤",  # Arabic-Indic digits are digits to str.isdigit, not to E.164
        "491725551234,491725551235",
        491725551234,
    ],
)
def test_invalid_receiver(given):
    with pytest.raises(SmsError) as info:
        normalize_receiver(given)
    assert (info.value.code, info.value.text) == (8, "Invalid receiver")


def test_receiver_address():
    assert receiver_address("+491725551234") == Address("491725551234", 1, 1)
    assert receiver_address("491725551234", ton=0, npi=0) == Address("491725551234", 0, 0)
    with pytest.raises(SmsError):
        receiver_address("12")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("MITTO SMS", Address("MITTO SMS", 5, 0)),
        ("Bank", Address("Bank", 5, 0)),
        ("  Bank  ", Address("Bank", 5, 0)),
        ("ABCDEFGHIJK", Address("ABCDEFGHIJK", 5, 0)),  # 11 characters
        ("A&B Co.", Address("A&B Co.", 5, 0)),
        ("Info-24/7", Address("Info-24/7", 5, 0)),
        ("1st", Address("1st", 5, 0)),
        ("12 34", Address("12 34", 5, 0)),
        ("123", Address("123", 1, 1)),
        ("+41751231234", Address("41751231234", 1, 1)),
        ("12345678901234", Address("12345678901234", 1, 1)),  # 14 digits
        ("0041751231234", Address("0041751231234", 1, 1)),
    ],
)
def test_sender_address(given, expected):
    assert sender_address(given) == expected


def test_sender_address_custom_ton_npi():
    assert sender_address("Shop", alnum_ton=2, alnum_npi=3) == Address("Shop", 2, 3)
    assert sender_address("+123", numeric_ton=4, numeric_npi=9) == Address("123", 4, 9)


@pytest.mark.parametrize("given", [None, "", "  "])
def test_empty_sender(given):
    with pytest.raises(SmsError) as info:
        sender_address(given)
    assert (info.value.code, info.value.text) == (5, "Empty sender")


@pytest.mark.parametrize(
    "given",
    [
        "AB",  # too short
        "12",
        "+12",
        "ABCDEFGHIJKL",  # 12 characters
        "123456789012345",  # 15 digits
        "+123456789012345",
        "Shop[1]",
        "Shop{1}",
        "back`tick",
        "Café",
        "Straße",
        "Tab\there",
        "new\nline",
        "€uro",
        42,
    ],
)
def test_invalid_sender(given):
    with pytest.raises(SmsError) as info:
        sender_address(given)
    assert (info.value.code, info.value.text) == (6, "Invalid sender")
