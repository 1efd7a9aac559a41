"""Sender and receiver addresses: validation, normalisation, SMPP TON/NPI.

Why: the provider answers responseCodes 5-8 for bad `from`/`to`, and SMPP needs a
type of number (TON) and numbering plan (NPI) that match the address's shape:
alphanumeric senders go out as TON 5 (alphanumeric) NPI 0, numbers as TON 1
(international) NPI 1 (E.164). Both pairs are configurable per SMSC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.sms.errors import (
    EMPTY_RECEIVER,
    EMPTY_SENDER,
    INVALID_RECEIVER,
    INVALID_SENDER,
    SmsError,
)

#: E.164 allows at most 15 digits. The shortest international numbers in use are
#: 7 digits (e.g. Niue +683 xxxx, Saint Helena +290 xxxx), so fewer is a typo.
MIN_RECEIVER_DIGITS = 7
MAX_RECEIVER_DIGITS = 15
_RECEIVER = re.compile(rf"[1-9][0-9]{{{MIN_RECEIVER_DIGITS - 1},{MAX_RECEIVER_DIGITS - 1}}}")
#: A sender that looks like a number is judged by the numeric rule only, so that
#: "+12" is a too-short number rather than a 3-character alphanumeric name.
_NUMBER_SHAPED = re.compile(r"\+?[0-9]+")
#: Numeric sender: optional '+', then 3..14 digits (the provider's limits).
_NUMERIC_SENDER = re.compile(r"\+?([0-9]{3,14})")
#: Alphanumeric sender: 3..11 of ASCII letters, digits, space and the ASCII
#: punctuation that the GSM default table also has (no backtick, brackets, braces,
#: backslash, caret, tilde or bar: those are missing or cost an escape in GSM).
_ALNUM_SENDER = re.compile(r"[A-Za-z0-9 !\"#$%&'()*+,\-./:;<=>?@_]{3,11}")


@dataclass(frozen=True)
class Address:
    """An SMPP address: the digits or name, its type of number and numbering plan."""

    addr: str
    ton: int
    npi: int


def normalize_receiver(to: str | None) -> str:
    """E.164 digits for `to`: SmsError 7 when missing, 8 when not a valid number.

    Surrounding whitespace and one leading "+" or "00" are removed; what is left must
    be 7..15 ASCII digits not starting with 0. Inner spaces, dashes or brackets are
    rejected rather than guessed at.
    """
    if to is None or (isinstance(to, str) and to.strip() == ""):
        raise SmsError(EMPTY_RECEIVER, "to is empty")
    if not isinstance(to, str):
        raise SmsError(INVALID_RECEIVER, f"to must be a string, not {type(to).__name__}")
    number = to.strip()
    if number.startswith("+"):
        number = number[1:]
    elif number.startswith("00"):
        number = number[2:]
    if not _RECEIVER.fullmatch(number):
        raise SmsError(
            INVALID_RECEIVER,
            f"{to!r} is not an E.164 number ({MIN_RECEIVER_DIGITS}-{MAX_RECEIVER_DIGITS} "
            "digits, optional leading + or 00, first digit not 0)",
        )
    return number


def receiver_address(to: str, *, ton: int = 1, npi: int = 1) -> Address:
    """The destination Address for `to` (normalised again, which is idempotent)."""
    return Address(normalize_receiver(to), ton, npi)


def sender_address(
    from_: str | None,
    *,
    alnum_ton: int = 5,
    alnum_npi: int = 0,
    numeric_ton: int = 1,
    numeric_npi: int = 1,
) -> Address:
    """The source Address for `from`: SmsError 5 when missing, 6 when invalid.

    Surrounding whitespace is removed. '+' followed by 3..14 digits, or 3..14 digits,
    is numeric (the '+' is dropped); other digit strings, with or without '+', are
    invalid. Anything else must be 3..11 characters from `_ALNUM_SENDER`, and it then
    necessarily contains a non-digit, to be alphanumeric.
    """
    if from_ is None or (isinstance(from_, str) and from_.strip() == ""):
        raise SmsError(EMPTY_SENDER, "from is empty")
    if not isinstance(from_, str):
        raise SmsError(INVALID_SENDER, f"from must be a string, not {type(from_).__name__}")
    sender = from_.strip()
    if _NUMBER_SHAPED.fullmatch(sender):
        numeric = _NUMERIC_SENDER.fullmatch(sender)
        if numeric:
            return Address(numeric.group(1), numeric_ton, numeric_npi)
    elif _ALNUM_SENDER.fullmatch(sender):
        return Address(sender, alnum_ton, alnum_npi)
    raise SmsError(
        INVALID_SENDER,
        f"{from_!r} is neither 3-14 digits nor 3-11 letters, digits, spaces or punctuation",
    )
