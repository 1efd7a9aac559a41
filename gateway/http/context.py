"""What the HTTP layer needs from the rest of the daemon, passed in, never imported."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway import ids
from gateway.config import Config
from gateway.http.unknown_fields import UnknownFieldLog
from gateway.sending import Sender
from gateway.store import Store


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    sender: Sender
    smpp_ready: Callable[[], bool]
    clock_ns: Callable[[], int] = time.time_ns
    new_id: Callable[[], uuid.UUID] = field(default=ids.new_uuid)
    engine_status: Callable[[], dict[str, Any]] = dict
    unknown_fields: UnknownFieldLog = field(default_factory=UnknownFieldLog)
