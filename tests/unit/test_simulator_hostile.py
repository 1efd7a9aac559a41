"""The simulator's hostile bytes are what they claim to be (no sockets: pure functions)."""

from __future__ import annotations

import pytest

from gateway import receipts
from gateway.simulator import hostile
from gateway.simulator.pdu import DELIVER_SM, HEADER, RESP, SUBMIT_SM, parse_sm, pdu
from gateway.smpp import codec

RESP_PDU = pdu(SUBMIT_SM | RESP, 0, 7, b"123456789\0")


@pytest.mark.parametrize("body", hostile.GARBAGE)
def test_every_garbage_receipt_is_unreadable_for_the_gateway(body: bytes) -> None:
    """Each is a receipt by esm_class (where readable at all) and fails the gateway's parse,
    so it is answered ESME_RX_P_APPN and dropped, not retried forever."""
    with pytest.raises((codec.DecodeError, receipts.ReceiptParseError)):
        deliver = codec.decode_deliver(pdu(DELIVER_SM, 0, 1, body))
        assert deliver.is_receipt
        receipts.parse_receipt(deliver.payload, deliver.tlvs)


def test_garbage_is_garbage_for_the_simulator_too_where_the_layout_breaks() -> None:
    broken = [body for body in hostile.GARBAGE if not _parses(body)]
    assert len(broken) == 3  # TLV overrun, sm_length overrun, unterminated string


def _parses(body: bytes) -> bool:
    try:
        parse_sm(body)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("mode", "length", "size"),
    [
        ("truncate", 26, 16 + 5),
        ("truncate_close", 26, 16 + 5),
        ("length_huge", 0xFFFFFFFF, 26),
        ("length_small", 8, 26),
    ],
)
def test_corrupt_keeps_the_header_and_breaks_the_length(mode: str, length: int, size: int):
    broken = hostile.corrupt(mode, RESP_PDU)
    assert len(broken) == size
    assert HEADER.unpack_from(broken) == (length, SUBMIT_SM | RESP, 0, 7)
    assert RESP_PDU.startswith(broken) or broken[16:] == RESP_PDU[16:]


def test_extras_use_sequences_the_client_never_sent() -> None:
    seqs = iter(range(100, 200))
    unknown = hostile.extras("unknown_command", 7, lambda: next(seqs))
    assert [HEADER.unpack_from(p)[1:4:2] for p in unknown] == [
        (hostile.UNKNOWN_REQUEST, 100),
        (hostile.UNKNOWN_RESPONSE, 7),
    ]
    strays = [HEADER.unpack_from(p)[3] for p in hostile.extras("unknown_seq", 7, lambda: 0)]
    assert all(abs(s - 7) > 1_000_000 for s in strays) and len(set(strays)) == 3
