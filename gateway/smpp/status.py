"""SMPP command_status names and the transient/permanent split.

Kept in one place so the engine, logs and metrics name a status the same way
(`ESME_RTHROTTLED`, never a bare number in a label).
"""

from __future__ import annotations

from smpplib import consts

ESME_ROK = 0x00
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RINVPASWD = 0x0E
ESME_RBINDFAIL = 0x0D

# Pseudo statuses for failures that never got a response PDU.
RESPONSE_TIMEOUT = -1
CONNECTION_LOST = -2

_NAMES: dict[int, str] = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_R") and isinstance(value, int)
}
_NAMES[RESPONSE_TIMEOUT] = "RESPONSE_TIMEOUT"
_NAMES[CONNECTION_LOST] = "CONNECTION_LOST"

# Worth trying again later: the SMSC is busy or the link failed, not the message.
TRANSIENT: frozenset[int] = frozenset(
    {ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, RESPONSE_TIMEOUT, CONNECTION_LOST}
)


def status_name(status: int) -> str:
    """`ESME_RTHROTTLED` for 0x58; `STATUS_0x...` for codes SMPP 3.4 does not name."""
    return _NAMES.get(status, f"STATUS_0x{status & 0xFFFFFFFF:08X}")


def is_transient(status: int) -> bool:
    return status in TRANSIENT
