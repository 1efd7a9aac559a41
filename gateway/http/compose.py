"""From request parameters to a validated `NewMessage`: the heart of POST /sms.

Validation follows the provider's responseCode table (raised as `SmsError` by `sms/`);
parameters the table does not cover raise `BadParameter`. Nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway import lifecycle, sms
from gateway.clients import Client
from gateway.config import Config
from gateway.http.params import BadParameter, optional_bool, optional_int, optional_str
from gateway.model import NewMessage, Segment, SubmitParams
from gateway.sms import errors
from gateway.webhooks import urls

MAX_VALIDITY_MINUTES = 20160  # 14 days; relative validity in SMPP 3.4 allows up to 99 days


@dataclass(frozen=True)
class Composed:
    message: NewMessage
    test: bool
    parts: int


def notify_statuses(params: Mapping[str, Any]) -> tuple[str, ...]:
    value = params.get("deliveryStatusesToNotify")
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    statuses = tuple(str(item).strip().upper() for item in items if str(item).strip())
    unknown = [s for s in statuses if s not in lifecycle.NOTIFIABLE]
    if unknown:
        raise BadParameter(
            "deliveryStatusesToNotify",
            f"unknown status {unknown[0]!r}; allowed: {', '.join(lifecycle.NOTIFIABLE)}",
        )
    return statuses


def callback_url(
    params: Mapping[str, Any],
    allowed_hosts: tuple[str, ...],
    check: Callable[[str, tuple[str, ...]], str] | None = None,
) -> str | None:
    """A per-message callback, only towards an allowed host (an open one is an SSRF hole);
    the URL as it will be stored and opened (gateway/webhooks/urls.py)."""
    url = optional_str(params, "callback", urls.MAX_URL_LENGTH)
    if not url:
        return None
    return (check or checked_callback)(url, allowed_hosts)


def checked_callback(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """The canonical URL, or BadParameter naming `callback`; pure, so bulk sends memoise it.

    The URL is checked before the allow-list, so a malformed one is named as such even
    when per-message callbacks are disabled."""
    try:
        target = urls.check_url(url)
    except urls.UnsafeUrl as exc:
        raise BadParameter("callback", str(exc)) from None
    if not allowed_hosts:
        raise BadParameter(
            "callback", "per-message callbacks are disabled (webhooks.allowed_callback_hosts)"
        )
    try:
        allowed = urls.AllowList.parse(allowed_hosts).allows(target)
    except urls.UnsafeUrl:  # the config loader refuses such an entry; never raise a 500
        allowed = False
    if not allowed:
        raise BadParameter(
            "callback", f"{target.authority} is not on the allowed callback host list"
        )
    return target.url


def _callback_hosts(config: Config, client: Client | None) -> tuple[str, ...]:
    """The client's allowed callback hosts where it has its own, else the global list."""
    if client is not None and client.allowed_callback_hosts is not None:
        return client.allowed_callback_hosts
    return config.webhooks.allowed_callback_hosts


def compose(
    params: Mapping[str, Any],
    config: Config,
    *,
    api_key_id: str,
    message_id: uuid.UUID,
    created_at: float,
    receiver: str | None = None,
    concat_ref: int | None = None,
    encode: Callable[..., sms.EncodedMessage] = sms.encode_message,
    check_callback: Callable[[str, tuple[str, ...]], str] = checked_callback,
    client: Client | None = None,
) -> Composed:
    """Validate and encode one send.

    Bulk sends pass `receiver` (instead of params['to']), one `concat_ref` for the whole
    batch, a memoised `encode` and `check_callback`, so a text is encoded and a callback
    URL checked once, not once per receiver.
    """
    smpp = config.smpp
    type_ = sms.parse_type(optional_str(params, "type", 16))
    from_given = optional_str(params, "from", 64)
    if client is not None and not from_given and client.default_sender:
        from_given = client.default_sender
    sender = sms.sender_address(
        from_given,
        alnum_ton=smpp.alnum_sender_ton,
        alnum_npi=smpp.alnum_sender_npi,
        numeric_ton=smpp.numeric_sender_ton,
        numeric_npi=smpp.numeric_sender_npi,
    )
    if client is not None and (refused := client.sender_refusal(str(from_given))):
        raise sms.SmsError(errors.INVALID_SENDER, refused)
    to_given = receiver if receiver is not None else optional_str(params, "to", 64)
    to = sms.normalize_receiver(to_given)
    if client is not None and (refused := client.receiver_refusal(to)):
        raise sms.SmsError(errors.INVALID_RECEIVER, refused)
    destination = sms.receiver_address(to, ton=smpp.dest_addr_ton, npi=smpp.dest_addr_npi)
    text = optional_str(params, "text", 40_000)
    validity = optional_int(params, "validity", 1, MAX_VALIDITY_MINUTES)
    pid = optional_int(params, "pid", 0, 255) or 0
    encoded = encode(
        text or "",
        type_,
        udh_hex=optional_str(params, "udh", 280) or None,
        flash=optional_bool(params, "flash"),
        gsm_charset=smpp.gsm_charset,
        concat_ref=message_id.int & 0xFF if concat_ref is None else concat_ref,
    )
    max_parts = config.http.max_message_parts
    if len(encoded.payloads) > max_parts:
        raise BadParameter(
            "text", f"needs {len(encoded.payloads)} SMS parts; at most {max_parts} are allowed"
        )
    validity_minutes = validity or smpp.default_validity_minutes
    submit = SubmitParams(
        source_addr=sender.addr,
        source_addr_ton=sender.ton,
        source_addr_npi=sender.npi,
        destination_addr=destination.addr,
        dest_addr_ton=destination.ton,
        dest_addr_npi=destination.npi,
        data_coding=encoded.data_coding,
        esm_class=encoded.esm_class,
        protocol_id=pid,
        registered_delivery=smpp.registered_delivery,
        validity_minutes=validity_minutes,
    )
    message = NewMessage(
        id=str(message_id),
        created_at=created_at,
        api_key_id=api_key_id,
        receiver=to,
        receiver_as_given=to_given or "",
        text=text or "",
        text_length=encoded.text_length,
        submit=submit,
        segments=tuple(Segment(i, p) for i, p in enumerate(encoded.payloads)),
        expires_at=created_at + validity_minutes * 60,
        reference=optional_str(params, "reference", 255),
        callback=callback_url(params, _callback_hosts(config, client), check_callback),
        notify_statuses=notify_statuses(params),
        client=client.name if client is not None else "default",
    )
    return Composed(message, optional_bool(params, "test"), len(encoded.payloads))
