"""API keys: `X-Mitto-API-Key` (the provider's header) or `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from flask import Request


def presented_key(request: Request) -> str | None:
    key = request.headers.get("X-Mitto-API-Key")
    if key:
        return key.strip()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_id(key: str) -> str:
    """A stable, non-secret label for a key: stored with messages, safe in logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def authenticate(request: Request, keys: Iterable[str]) -> str | None:
    """The key's id when the request carries a configured key, else None (constant time)."""
    presented = presented_key(request)
    if presented is None:
        return None
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return key_id(presented) if matched else None
