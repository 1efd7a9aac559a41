"""From a POST /smsbulk request to validated messages and the per-receiver answer. Pure.

Each receiver is validated on its own, so one bad number gets its own responseCode and
does not sink the batch. A problem shared by every receiver (sender, type, text) refuses
the batch as a whole: every item carries that code, so a caller reading only the items
and a caller reading only the top level both see it.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import sms
from gateway.clients import Client
from gateway.config import Config
from gateway.http.compose import checked_callback, compose
from gateway.http.params import BadParameter
from gateway.http.responses import RESPONSE_TEXT
from gateway.model import NewMessage
from gateway.sms.errors import EMPTY_RECEIVER, INVALID_RECEIVER

RECEIVER_CODES = (EMPTY_RECEIVER, INVALID_RECEIVER)


@dataclass
class BulkResult:
    """The answer's items in request order, and the messages to make durable."""

    items: list[dict[str, Any]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)  # each item's responseCode
    messages: list[NewMessage] = field(default_factory=list)
    test: bool = False
    refused: int | None = None  # a code shared by every receiver: nothing accepted

    def body(self) -> dict[str, Any]:
        """The provider's bulk shape: {responseCode, responseText, test?, messages}."""
        code = self.refused
        if code is None:
            code = 0 if 0 in self.codes else next(iter(self.codes), EMPTY_RECEIVER)
        body: dict[str, Any] = {"responseCode": code, "responseText": RESPONSE_TEXT[code]}
        if self.test:
            body["test"] = True
        body["messages"] = self.items
        return body

    def add(self, item: dict[str, Any], code: int) -> None:
        self.items.append(item)
        self.codes.append(code)

    def refuse(self, message_ids: set[str], code: int, detail: Callable[[NewMessage], str]) -> None:
        """Turn the items of these composed messages into refusals (`code`, `detail`); the
        messages are not stored. Order and the other items stay."""
        by_id = {m.id: m for m in self.messages if m.id in message_ids}
        for index, item in enumerate(self.items):
            message = by_id.get(item.get("id", ""))
            if message is not None:
                self.items[index] = {
                    "to": item["to"],
                    "responseCode": code,
                    "responseText": RESPONSE_TEXT[code],
                    "detail": detail(message),
                }
                self.codes[index] = code
        self.messages = [m for m in self.messages if m.id not in message_ids]

    def code_counts(self) -> Counter[int]:
        """How many receivers got each responseCode (for the per-receiver metric)."""
        return Counter(self.codes)


def receivers(value: Any, limit: int) -> list[str]:
    """`to` as a list of receivers: an array, or one comma-separated string.

    Items are kept as given (stripped), empty ones included, so the answer has one item
    per receiver in request order. More than `limit` is a BadParameter.
    """
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",") if value.strip() else []
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [str(value)]
    elif isinstance(value, list):
        items = [_item(i, item) for i, item in enumerate(value)]
    else:
        raise BadParameter("to", "must be an array of receivers or a comma-separated string")
    if len(items) > limit:
        raise BadParameter(
            "to",
            f"{len(items)} receivers; at most {limit} per request (http.bulk_max_receivers)",
        )
    return [item.strip() for item in items]


def _item(index: int, item: Any) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int):
        raise BadParameter(f"to[{index}]", "must be a string (an E.164 number)")
    return str(item)


def compose_bulk(
    params: Mapping[str, Any],
    to: list[str],
    config: Config,
    *,
    api_key_id: str,
    new_id: Callable[[], uuid.UUID],
    created_at: float,
    stamp: str,
    client: Client | None = None,
) -> BulkResult:
    """Validate and encode one message per receiver; BadParameter for the whole request."""
    result = BulkResult()
    encode = functools.lru_cache(maxsize=1)(sms.encode_message)  # one text, encoded once
    check_callback = functools.lru_cache(maxsize=1)(checked_callback)  # one URL, checked once
    concat_ref = new_id().int & 0xFF  # one reference for the batch: receivers differ
    for receiver in to:
        try:
            composed = compose(
                params,
                config,
                api_key_id=api_key_id,
                message_id=new_id(),
                created_at=created_at,
                receiver=receiver,
                concat_ref=concat_ref,
                encode=encode,
                check_callback=check_callback,
                client=client,
            )
        except sms.SmsError as exc:
            if exc.code not in RECEIVER_CODES:
                return _refused(to, exc)
            result.add(_error_item(receiver, exc), exc.code)
            continue
        result.test = composed.test
        item: dict[str, Any] = {"id": composed.message.id} if not composed.test else {}
        item.update(
            timestamp=stamp,
            to=receiver,
            textLength=composed.message.text_length,
            messageParts=composed.parts,
        )
        result.add(item, 0)
        if not composed.test:
            result.messages.append(composed.message)
    return result


def _error_item(receiver: str, exc: sms.SmsError) -> dict[str, Any]:
    return {
        "to": receiver,
        "responseCode": exc.code,
        "responseText": RESPONSE_TEXT[exc.code],
        "detail": exc.detail,
    }


def _refused(to: list[str], exc: sms.SmsError) -> BulkResult:
    result = BulkResult(refused=exc.code)
    for receiver in to:
        result.add(_error_item(receiver, exc), exc.code)
    return result
