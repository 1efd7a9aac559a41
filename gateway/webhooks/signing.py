"""Webhook signatures: HMAC-SHA256 over a timestamp and the request's payload; pure.

Two schemes (`webhooks.signature_scheme`). The Standard Webhooks one (standard_headers
below) is the published scheme receivers in any language verify with a library: headers
`webhook-id` (the X-Webhook-Id), `webhook-timestamp` and `webhook-signature: v1,<base64
HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key given as `whsec_<base64>`; it
signs the body, so it needs POST. The default, hmac-sha256:

When `[webhooks] secret` is set, every webhook request carries two headers:

    X-Webhook-Timestamp: <unix seconds, an integer, when the attempt was made>
    X-Webhook-Signature: sha256=<lower-case hex HMAC-SHA256(secret, message)>

where `message` is the UTF-8 bytes of the timestamp as sent, a '.', and then:

- for a POST (any method but GET): the request body exactly as sent (nothing when the
  request has no body);
- for a GET: the request target exactly as it appears on the HTTP request line, the URL's
  path and query string (`/cb?msgid=...&status=DELIVERED`), with no scheme, host or
  fragment.

A receiver recomputes the HMAC with the shared secret over what it received, compares it
in constant time, and refuses a timestamp too far from its own clock (replays). The
`verify()` below does all of that and uses only the standard library, so receivers can
copy this file. The same webhook retried gets a fresh timestamp and signature; its
`X-Webhook-Id` header stays the same, so receivers can drop duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SCHEME = "sha256="
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"


def payload(method: str, request_target: str, body: bytes | None) -> bytes:
    """What is signed after the timestamp: the path and query for GET, else the body."""
    if method.upper() == "GET":
        return request_target.encode("utf-8")
    return body or b""


def sign(secret: str | bytes, timestamp: int | str, data: bytes) -> str:
    """The X-Webhook-Signature value for `data` (see payload()) made at `timestamp`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{timestamp}.".encode() + data
    return SCHEME + hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_headers(secret: str | bytes, timestamp: int, data: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, data)}


STANDARD_PREFIX = "whsec_"


def standard_key(secret: str) -> bytes | None:
    """The key of a `whsec_<base64>` secret (24 to 64 bytes, as the scheme asks), or None."""
    if not secret.startswith(STANDARD_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if 24 <= len(key) <= 64 else None


def standard_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for `body` sent as webhook `webhook_id` at `timestamp`."""
    key = standard_key(secret)
    if key is None:  # the config refuses such a secret: never reached from the daemon
        raise ValueError("not a whsec_ secret")
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }


def verify(
    secret: str | bytes,
    timestamp: str | int | None,
    data: bytes,
    signature: str | None,
    now: float,
    tolerance: float = 300,
) -> bool:
    """True when `signature` is the sender's over `data` and `timestamp` is fresh.

    `timestamp` and `signature` are the header values as received (None when missing),
    `data` is payload(method, request_target, body) of the request as received, `now` is
    the receiver's clock in unix seconds and `tolerance` the largest accepted skew.
    """
    if timestamp is None or signature is None:
        return False
    sent = str(timestamp).strip()
    try:
        age = now - int(sent)
    except ValueError:
        return False
    if abs(age) > tolerance:
        return False
    expected = sign(secret, sent, data)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())
