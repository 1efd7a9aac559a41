"""Validation errors that map one-to-one onto the provider's responseCode table.

Why: the HTTP layer must answer a bad request the way the provider does, with HTTP
200 and a `responseCode`/`responseText` pair in the body. The pure functions in
`gateway.sms` therefore raise an exception that already carries both, plus a human
explanation (`detail`) for logs and for our own error field.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

INVALID_TYPE = 2
EMPTY_MESSAGE = 3
INVALID_TEXT = 4
EMPTY_SENDER = 5
INVALID_SENDER = 6
EMPTY_RECEIVER = 7
INVALID_RECEIVER = 8

#: The provider's responseText for each validation responseCode, verbatim.
RESPONSE_TEXTS: Mapping[int, str] = MappingProxyType(
    {
        INVALID_TYPE: "Invalid type",
        EMPTY_MESSAGE: "Empty message",
        INVALID_TEXT: "Message text is invalid",
        EMPTY_SENDER: "Empty sender",
        INVALID_SENDER: "Invalid sender",
        EMPTY_RECEIVER: "Empty receiver",
        INVALID_RECEIVER: "Invalid receiver",
    }
)


class SmsError(ValueError):
    """Validation failure carrying the provider's responseCode and responseText.

    `code` is 2..8, `text` is exactly the provider's responseText for it and
    `detail` says in plain words what was wrong with the request.
    """

    code: int
    text: str
    detail: str

    def __init__(self, code: int, detail: str = "") -> None:
        if code not in RESPONSE_TEXTS:
            raise ValueError(f"no validation responseCode {code}")
        self.code = code
        self.text = RESPONSE_TEXTS[code]
        self.detail = detail
        super().__init__(f"{code} {self.text}: {detail}" if detail else f"{code} {self.text}")

    def __reduce__(self) -> tuple[type[SmsError], tuple[int, str]]:
        return (type(self), (self.code, self.detail))
