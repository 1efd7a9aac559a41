"""From a message state change or an inbound message to an outbox row; pure.

Callback parameters are the provider's: msgid, sendtime, status, receiver, mcc, mnc,
cost, errorcode, sendtimestamp, reference. Inbound posts carry the 2-way parameters
coding, sender, content, receiver, msgid, plus `incomplete=true` when the reassembly
timeout posted a concatenated message with parts missing. The URL may hold `<name>`, `$name$` or
`~name~` placeholders (values URL-encoded); without any, GET appends the parameters as a
query string. POST sends the body template filled (values JSON-escaped) or, without a
template, the parameters as JSON (or form-encoded when configured).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from gateway import opt_out
from gateway.config import WebhooksSettings
from gateway.model import InboundMessage, OutboxRow, StateChange
from gateway.store.base import StoreHooks
from gateway.timefmt import iso_from_seconds
from gateway.webhooks.templates import fill_body, fill_url, has_placeholders


class CallbackHooks(StoreHooks):
    """The store's hooks: a state change or an inbound message calls for the provider's
    callback, as `settings` say. Pure, as hooks must be (store/base.py)."""

    def __init__(
        self,
        settings: WebhooksSettings,
        keep_text: bool = False,
        client_callbacks: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.keep_text = keep_text  # store.keep_text
        self.client_callbacks = dict(client_callbacks or {})  # client -> its callback_url

    def on_state_change(self, change: StateChange) -> OutboxRow | None:
        default = self.client_callbacks.get(change.client, "")
        return build_callback(change, self.settings, self.new_id, default)

    def on_inbound(self, message: InboundMessage) -> OutboxRow | None:
        return build_inbound(message, self.settings, self.new_id)

    def stops(self, message: InboundMessage) -> bool:
        return opt_out.is_stop(message.text, self.settings.stop_words)


def callback_parameters(change: StateChange) -> dict[str, str]:
    """All values as strings, as the provider's callbacks carry them."""
    sent = change.submitted_at if change.submitted_at is not None else change.at
    return {
        "msgid": change.message_id,
        "sendtime": iso_from_seconds(sent),
        "status": change.state.public,
        "receiver": change.receiver,
        "mcc": "",
        "mnc": "",
        "cost": "" if change.cost is None else f"{change.cost:g}",
        "errorcode": str(change.error_code or 0),
        "sendtimestamp": str(int(change.at)),
        "reference": change.reference or "",
    }


def build_callback(
    change: StateChange,
    settings: WebhooksSettings,
    new_id: Callable[[], str],
    client_default: str = "",
) -> OutboxRow | None:
    """The callback for a state change, or None when nobody asked for it."""
    if change.state.queued:
        return None
    wanted = change.notify_statuses or settings.notify_statuses
    if change.state.public not in wanted:
        return None
    url = change.callback or client_default or settings.default_callback_url
    if not url:
        return None
    params = callback_parameters(change)
    if settings.client_parameter:
        params[settings.client_parameter] = change.client
    row = _row(
        new_id(),
        "callback",
        change.message_id,
        change.at,
        url,
        params,
        settings,
        settings.body_template,
    )
    return dataclasses.replace(row, client=change.client)


def build_inbound(
    message: InboundMessage, settings: WebhooksSettings, new_id: Callable[[], str]
) -> OutboxRow | None:
    if not settings.inbound_url:
        return None
    params = {
        "coding": message.coding,
        "sender": message.sender,
        "content": message.text,
        "receiver": message.receiver,
        "msgid": message.id,
    }
    if not message.complete:  # parts were missing when reassembly timed out
        params["incomplete"] = "true"
    return _row(
        new_id(),
        "inbound",
        None,
        message.received_at,
        settings.inbound_url,
        params,
        settings,
        settings.inbound_body_template,
    )


def _row(
    row_id: str,
    kind: str,
    message_id: str | None,
    at: float,
    url: str,
    params: Mapping[str, str],
    settings: WebhooksSettings,
    template: str,
) -> OutboxRow:
    templated = has_placeholders(url)
    if templated:
        url = fill_url(url, params)
    if settings.method == "GET":
        if not templated:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return OutboxRow(row_id, kind, message_id, at, url, "GET", None, None)
    if template:
        body, ctype = fill_body(template, params).encode(), settings.body_content_type
    elif settings.post_format == "form":
        body, ctype = urlencode(params).encode(), "application/x-www-form-urlencoded"
    else:
        body, ctype = json.dumps(params).encode(), "application/json"
    return OutboxRow(row_id, kind, message_id, at, url, "POST", ctype, body)
