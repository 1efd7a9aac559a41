"""Simulator configuration: start-up options plus the knobs the control port can change.

One mutable `SimConfig` per `Smsc`, so tests can flip fault injection at runtime
without restarting the process (and without any module-level state).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# SMPP 3.4 message_state values (section 5.2.28).
MESSAGE_STATES: dict[str, int] = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}
# err:NNN written in the receipt when the spec does not give one.
DEFAULT_ERRORS: dict[str, int] = {"UNDELIV": 1, "REJECTD": 9}
ID_FORMATS = ("dec", "hex")
TLS_MAX_VERSIONS = ("1.1", "1.2", "1.3")
RECEIPT_ID_FORMATS = ("same", "dec", "hex")
# Misbehaviours of --hostile / POST /config {"hostile": MODE} (see gateway/simulator/hostile.py).
HOSTILE_MODES = (
    "off", "truncate", "truncate_close", "length_huge", "length_small", "unknown_command",
    "unknown_seq", "garbage_receipt", "unbind", "slow",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReceiptState:
    """One entry of the weighted receipt state mix."""

    name: str
    weight: float
    err: int

    def as_spec(self) -> str:
        return f"{self.name}={self.weight:g}:{self.err:03d}"


def parse_receipt_states(spec: str | dict[str, Any]) -> tuple[ReceiptState, ...]:
    """ "DELIVRD=90,UNDELIV=5:001" (STATE=WEIGHT[:ERR]) or {"DELIVRD": 90, ...}."""
    items = spec.items() if isinstance(spec, dict) else _split_spec(spec)
    states = []
    for raw_name, raw_value in items:
        name = str(raw_name).strip().upper()
        if name not in MESSAGE_STATES:
            raise ValueError(f"unknown receipt state {name!r}; one of {sorted(MESSAGE_STATES)}")
        weight_text, _, err_text = str(raw_value).partition(":")
        weight = float(weight_text)
        err = int(err_text) if err_text else DEFAULT_ERRORS.get(name, 0)
        if weight < 0 or not 0 <= err <= 0xFFFF:
            raise ValueError(f"bad weight or err for {name}")
        states.append(ReceiptState(name, weight, err))
    if not states or sum(s.weight for s in states) <= 0:
        raise ValueError("receipt states need at least one positive weight")
    return tuple(states)


def _split_spec(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for item in spec.split(","):
        if item.strip():
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"receipt state {item!r} is not STATE=WEIGHT[:ERR]")
            pairs.append((name, value))
    return pairs


def random_first_id() -> int:
    """A 9-digit base, so ids of successive simulator runs rarely overlap."""
    return 100_000_000 + secrets.randbelow(800_000_000)


@dataclass(slots=True)
class SimConfig:
    """Everything the simulator can be told; the runtime knobs are listed in RUNTIME."""

    host: str = "127.0.0.1"
    port: int = 2775
    control_port: int | None = None  # None = disabled, 0 = ephemeral
    system_id: str = "smppclient"
    password: str = "password"
    max_sessions: int = 4
    first_id: int = field(default_factory=random_first_id)
    id_format: str = "dec"
    enquire_interval: float = 0.0
    receipt_delay: float = 0.2  # negative = no receipts
    receipt_states: tuple[ReceiptState, ...] = (ReceiptState("DELIVRD", 100, 0),)
    receipt_id_format: str = "same"
    receipt_before_resp: bool = False
    seed: int = 1
    throttle_every: int = 0
    throttle_rate: float = 0.0  # submit_sm/s for the whole account (ratelimit.py); 0 = off
    fail_every: int = 0
    fail_status: int = 0x45
    close_after: int = 0
    refuse_binds_for: float = 0.0
    response_delay: float = 0.0
    response_jitter: float = 0.0  # each resp held up to this much more, so out of order
    paused: bool = False
    pdu_log: str | None = None
    keep_submits: int = 100_000
    # TLS on the SMPP listener (start-up only): PEM certificate chain, its key (None: in
    # the certificate file), CA file of client certificates to require (None: none asked)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    tls_max_version: str = "1.3"  # "1.1" serves TLS 1.1 only, for clients that must refuse it
    redeliver_delay: float = 1.0  # an unacknowledged deliver_sm is sent again after this
    deliver_timeout: float = 30.0  # no deliver_sm_resp for this long: send again; 0 = never
    ignore_deliver_resp: bool = False  # act as if every deliver_sm_resp was lost
    hostile: str = "off"
    hostile_every: int = 1  # the hostile mode fires on every Nth submit_sm
    slow_byte_interval: float = 1.0  # hostile "slow": seconds between written bytes

    def __post_init__(self) -> None:
        _check_choice("id_format", self.id_format, ID_FORMATS)
        _check_choice("receipt_id_format", self.receipt_id_format, RECEIPT_ID_FORMATS)
        _check_choice("tls_max_version", self.tls_max_version, TLS_MAX_VERSIONS)
        if self.tls_cert is None and (self.tls_key or self.tls_client_ca):
            raise ValueError("--tls-key and --tls-client-ca need --tls-cert")
        _check_choice("hostile", self.hostile, HOSTILE_MODES)
        if self.hostile_every < 1 or self.slow_byte_interval <= 0:
            raise ValueError("hostile_every must be >= 1 and slow_byte_interval > 0")
        if not all(_finite_non_negative(v) for v in (self.throttle_rate, self.response_jitter)):
            raise ValueError("throttle_rate and response_jitter must be finite numbers >= 0")

    def runtime_view(self) -> dict[str, Any]:
        """The control API's view of the runtime knobs."""
        view = {name: getattr(self, name) for name in RUNTIME}
        view["receipt_states"] = ",".join(s.as_spec() for s in self.receipt_states)
        return view

    def apply(self, updates: dict[str, Any]) -> list[str]:
        """Validate all updates first, then apply them; returns the changed keys."""
        unknown = sorted(set(updates) - set(RUNTIME))
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; allowed {sorted(RUNTIME)}")
        converted = {name: RUNTIME[name](value) for name, value in updates.items()}
        _check_choice("id_format", converted.get("id_format", self.id_format), ID_FORMATS)
        rif = converted.get("receipt_id_format", self.receipt_id_format)
        _check_choice("receipt_id_format", rif, RECEIPT_ID_FORMATS)
        _check_choice("hostile", converted.get("hostile", self.hostile), HOSTILE_MODES)
        if converted.get("hostile_every", 1) < 1:
            raise ValueError("hostile_every must be at least 1")
        for name, value in converted.items():
            setattr(self, name, value)
        return list(converted)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}")


def _int(value: Any) -> int:
    """Accepts 69, "69" and "0x45" (statuses are usually written in hex)."""
    number = int(value, 0) if isinstance(value, str) else int(value)
    if number < 0:
        raise ValueError(f"{value!r} must not be negative")
    return number


def _float(value: Any) -> float:
    return float(value)


def _finite_non_negative(number: float) -> bool:
    """A rate or a jitter must be finite (a timer at infinity never fires) and >= 0."""
    return math.isfinite(number) and number >= 0


def _non_negative(value: Any) -> float:
    number = float(value)
    if not _finite_non_negative(number):
        raise ValueError(f"{value!r} must be a finite number >= 0")
    return number


def _positive(value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"{value!r} must be positive")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


RUNTIME: dict[str, Callable[[Any], Any]] = {
    "throttle_every": _int,
    "throttle_rate": _non_negative,
    "fail_every": _int,
    "fail_status": _int,
    "close_after": _int,
    "refuse_binds_for": _float,
    "response_delay": _float,
    "response_jitter": _non_negative,
    "paused": _bool,
    "receipt_delay": _float,
    "receipt_states": parse_receipt_states,
    "receipt_id_format": str,
    "id_format": str,
    "receipt_before_resp": _bool,
    "enquire_interval": _float,
    "redeliver_delay": _float,
    "deliver_timeout": _float,
    "ignore_deliver_resp": _bool,
    "hostile": str,
    "hostile_every": _int,
    "slow_byte_interval": _positive,
}
