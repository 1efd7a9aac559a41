"""API keys: `X-Mitto-API-Key` (the provider's header) or `Authorization: Bearer`.

A key is looked up by its SHA-256 in the clients' directory (gateway/clients.py), so the
configuration may hold hashes only and no comparison runs on the secret itself."""

from __future__ import annotations

import hashlib

from flask import Request

from gateway.clients import Client, Directory


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


def authenticate(request: Request, directory: Directory) -> tuple[Client, str] | None:
    """The client whose key the request carries, and the key's id; None without one."""
    presented = presented_key(request)
    if presented is None:
        return None
    client = directory.find(presented)
    return None if client is None else (client, key_id(presented))
