"""Hostile-SMSC behaviours: the bytes a broken or malicious SMSC puts on the wire.

Switched with `--hostile MODE` or at runtime with `POST /config {"hostile": MODE}`, so one
test can send before, during and after a fault. Every mode except `slow` fires on every
`hostile_every`-th submit_sm (counted over all connections). The submit itself is
accepted and stored as usual (a real SMSC took it; only its answer went wrong), so a
client that submits it again after the fault produces a countable duplicate:

  truncate         the submit_sm_resp is cut mid-body and the connection goes on, so
                   the client's framing is out of step with the stream
  truncate_close   the same, then the connection is closed
  length_huge      the submit_sm_resp says command_length 0xFFFFFFFF
  length_small     the submit_sm_resp says command_length 8 (less than a header)
  unknown_command  before the resp: a request and a response with undefined command ids
  unknown_seq      before the resp: a submit_sm_resp, a generic_nack and an
                   enquire_link_resp for sequence numbers the client never used
  garbage_receipt  besides the normal traffic, a deliver_sm no client can read (GARBAGE,
                   in turn) goes to a receiver bind; it is re-sent like any delivery
                   unless answered ESME_RX_P_APPN
  unbind           after the resp the SMSC sends unbind, refuses further submits, and
                   closes when unbind_resp comes (or after UNBIND_GRACE seconds)
  slow             every byte to the client is written alone, one per slow_byte_interval
                   (a backlog still queued when the mode ends goes out at once)
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.simulator.pdu import (
    ENQUIRE_LINK,
    ESME_RINVCMDID,
    GENERIC_NACK,
    HEADER,
    HEADER_LEN,
    RESP,
    SUBMIT_SM,
    TAG_MESSAGE_STATE,
    TAG_RECEIPTED_MESSAGE_ID,
    TLV_HEADER,
    ShortMessage,
    encode_sm,
    pdu,
)

CUT_MODES = frozenset({"truncate", "truncate_close", "length_huge", "length_small"})
EXTRA_MODES = frozenset({"unknown_command", "unknown_seq"})
UNKNOWN_REQUEST = 0x00000099  # no SMPP 3.4 command has this id
UNKNOWN_RESPONSE = UNKNOWN_REQUEST | RESP
HUGE_LENGTH = 0xFFFFFFFF
SMALL_LENGTH = 8
UNBIND_GRACE = 2.0  # seconds the SMSC waits for unbind_resp before closing anyway


def corrupt(mode: str, resp: bytes) -> bytes:
    """The submit_sm_resp as the CUT_MODES put it on the wire."""
    if mode in ("truncate", "truncate_close"):
        body = len(resp) - HEADER_LEN
        return resp[: HEADER_LEN + max(1, body // 2)]
    length = HUGE_LENGTH if mode == "length_huge" else SMALL_LENGTH
    _length, command, status, seq = HEADER.unpack_from(resp)
    return HEADER.pack(length, command, status, seq) + resp[HEADER_LEN:]


def extras(mode: str, seq: int, next_seq: Callable[[], int]) -> list[bytes]:
    """PDUs written just before the real submit_sm_resp by the EXTRA_MODES."""
    if mode == "unknown_command":
        return [pdu(UNKNOWN_REQUEST, 0, next_seq(), b"hostile\0"), pdu(UNKNOWN_RESPONSE, 0, seq)]
    stray = (seq + 0x40000000) % 0x7FFFFFFF or 1  # far from any sequence the client used
    return [
        pdu(SUBMIT_SM | RESP, 0, stray, b"999999999\0"),
        pdu(GENERIC_NACK, ESME_RINVCMDID, stray + 1),
        pdu(ENQUIRE_LINK | RESP, 0, stray + 2),
    ]


def _receipt_like(text: bytes, tlvs: tuple[tuple[int, bytes], ...] = ()) -> bytes:
    return encode_sm(
        ShortMessage(
            source_addr_ton=1, source_addr_npi=1, source_addr=b"41790000001",
            dest_addr_ton=1, dest_addr_npi=1, destination_addr=b"41790000002",
            esm_class=0x04, short_message=text, tlvs=tlvs,
        )
    )  # fmt: skip


def _garbage_bodies() -> tuple[bytes, ...]:
    """deliver_sm bodies that are receipts by their esm_class and unreadable otherwise."""
    no_id = _receipt_like(b"stat:DELIVRD \xff\xfe\x00 this is not a receipt")
    tlv_overrun = _receipt_like(b"") + TLV_HEADER.pack(TAG_RECEIPTED_MESSAGE_ID, 200) + b"12"
    whole = _receipt_like(b"id:1 stat:DELIVRD")
    sm_overrun = whole[: whole.index(b"id:") - 1] + bytes((200,)) + b"id:1 stat:DELIVRD"
    unterminated = b"\x00\x01\x0141790000001"  # source_addr never ends: no NUL anywhere after
    bad_state = _receipt_like(b"id: sub:001 stat: err:xyz", ((TAG_MESSAGE_STATE, b"\xff" * 4),))
    return no_id, tlv_overrun, sm_overrun, unterminated, bad_state


GARBAGE: tuple[bytes, ...] = _garbage_bodies()
