"""`smpp-gateway status`: ask the running daemon's `GET /status` and print the answer.

Why over HTTP: the SMPP sessions and queues live in the daemon's one worker, so only it
can tell; the CLI reads the same config to find the listener and an API key.
Exit status: 0 ready, 1 running but not ready, 2 unreachable or refused.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any


def status_url(listen: str) -> str:
    """The URL of /status on the configured listener (a wildcard address means loopback)."""
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return f"http://{host}:{port}/status"


def show_status(cfg: Any, timeout: float = 5.0) -> int:
    url = status_url(cfg.http.listen)
    request = urllib.request.Request(url, headers={"X-Mitto-API-Key": cfg.http.api_keys[0]})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        print(f"status: {url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(body, indent=2))
    return 0 if body.get("ready") else 1
