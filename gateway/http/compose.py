"""From request parameters to a validated `NewMessage`: the heart of POST /sms.

Validation follows the provider's responseCode table (raised as `SmsError` by `sms/`);
parameters the table does not cover raise `BadParameter`. Nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway import lifecycle, sms
from gateway.config import Config
from gateway.http.params import BadParameter, optional_bool, optional_int, optional_str
from gateway.model import NewMessage, Segment, SubmitParams

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


def callback_url(params: Mapping[str, Any], allowed_hosts: tuple[str, ...]) -> str | None:
    """A per-message callback, only towards an allowed host (an open one is an SSRF hole)."""
    url = optional_str(params, "callback", 2048)
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise BadParameter("callback", "must be an absolute http(s) URL")
    if not allowed_hosts:
        raise BadParameter(
            "callback", "per-message callbacks are disabled (webhooks.allowed_callback_hosts)"
        )
    host = parts.hostname.lower()
    if not any(host_allowed(host, port, entry) for entry in allowed_hosts):
        raise BadParameter("callback", f"{host}:{port} is not on the allowed callback host list")
    return url


def host_allowed(host: str, port: int, entry: str) -> bool:
    """`entry` is host, host:port, [v6]:port or *.domain (any subdomain, not the domain)."""
    entry = entry.strip().lower()
    name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
    if entry_port and int(entry_port) != port:
        return False
    name = name.strip("[]")
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _has_port(entry: str) -> bool:
    """Whether an allow-list entry ends in :port (a bare IPv6 address has colons too)."""
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (entry.count(":") == 1 or head.endswith("]"))


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
) -> Composed:
    """Validate and encode one send.

    Bulk sends pass `receiver` (instead of params['to']), one `concat_ref` for the whole
    batch and a memoised `encode`, so a text is encoded once, not once per receiver.
    """
    smpp = config.smpp
    type_ = sms.parse_type(optional_str(params, "type", 16))
    sender = sms.sender_address(
        optional_str(params, "from", 64),
        alnum_ton=smpp.alnum_sender_ton,
        alnum_npi=smpp.alnum_sender_npi,
        numeric_ton=smpp.numeric_sender_ton,
        numeric_npi=smpp.numeric_sender_npi,
    )
    to_given = receiver if receiver is not None else optional_str(params, "to", 64)
    to = sms.normalize_receiver(to_given)
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
        callback=callback_url(params, config.webhooks.allowed_callback_hosts),
        notify_statuses=notify_statuses(params),
    )
    return Composed(message, optional_bool(params, "test"), len(encoded.payloads))
