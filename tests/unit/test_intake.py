"""DeliverIntake with a fake store (issue 12, item 8): what a deliver_sm becomes and
what it is answered.

PDUs are encoded with the simulator's encoder and decoded by the codec, as on the wire;
the store is a fake whose Futures the test resolves, standing in for the writer's commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway import metrics
from gateway.intake import DeliverIntake
from gateway.lifecycle import State
from gateway.model import InboundPart, ReceiptRecord
from gateway.simulator.pdu import ShortMessage, encode_sm, pdu
from gateway.smpp import codec
from gateway.store import StoreError

NOW = 1_750_000_000.0
RECEIPT = (
    b"id:0A1B sub:001 dlvrd:001 submit date:2611251930 done date:2611251931 "
    b"stat:DELIVRD err:000 text:Hello"
)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def deliver(
    short_message: bytes,
    esm_class: int = 0,
    data_coding: int = 0,
    tlvs: tuple[tuple[int, bytes], ...] = (),
) -> codec.DeliverSm:
    """A deliver_sm from 41791234567 to MITTO, through the wire format and the codec."""
    body = encode_sm(
        ShortMessage(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=b"41791234567",
            destination_addr=b"MITTO",
            esm_class=esm_class,
            data_coding=data_coding,
            short_message=short_message,
            tlvs=tlvs,
        )
    )
    return codec.decode_deliver(pdu(codec.DELIVER_SM, 0, 7, body))


@dataclass
class FakeStore:
    """record_receipt / record_inbound: keeps each record and hands out a Future the test
    resolves (the commit), or raises `refuse` (the writer's queue refused it)."""

    receipts: list[ReceiptRecord] = field(default_factory=list)
    parts: list[InboundPart] = field(default_factory=list)
    commits: list[Future[Any]] = field(default_factory=list)
    refuse: Exception | None = None

    def _stored(self) -> Future[Any]:
        if self.refuse is not None:
            raise self.refuse
        commit: Future[Any] = Future()
        self.commits.append(commit)
        return commit

    def record_receipt(self, receipt: ReceiptRecord) -> Future[Any]:
        self.receipts.append(receipt)
        return self._stored()

    def record_inbound(self, part: InboundPart) -> Future[Any]:
        self.parts.append(part)
        return self._stored()


@dataclass
class Rig:
    intake: DeliverIntake
    store: FakeStore


@pytest.fixture
def rig() -> Iterator[Rig]:
    store = FakeStore()
    intake = DeliverIntake(
        store,  # type: ignore[arg-type]
        gsm_charset="gsm",
        clock=lambda: NOW,
    )
    yield Rig(intake, store)


def resp(answer: int | Future[int]) -> int:
    """The status the session would answer with (a Future must be resolved by now)."""
    if isinstance(answer, Future):
        assert answer.done(), "the answer is still waiting for the store"
        return answer.result(timeout=0)
    return answer


# -- receipts --------------------------------------------------------------------------------


def test_receipt_is_stored_with_its_state_and_id_keys_and_acked_after_the_commit(
    rig: Rig,
) -> None:
    counted = sample("smpp_gateway_receipts_total", {"state": "DELIVERED"})
    answer = rig.intake.deliver(deliver(RECEIPT, esm_class=0x04), "trx0")

    assert rig.store.receipts == [
        ReceiptRecord(
            received_at=NOW,
            session="trx0",
            smsc_message_id="0A1B",
            id_keys=("a1b", "2587"),  # normalised, then its decimal reading
            stat="DELIVRD",
            state=State.DELIVERED,
            error_code=0,
            done_date="2611251931",
        )
    ]
    assert isinstance(answer, Future) and not answer.done()  # no resp before the commit

    rig.store.commits[0].set_result(True)  # committed, and it matched a segment
    assert resp(answer) == codec.ESME_ROK
    assert sample("smpp_gateway_receipts_total", {"state": "DELIVERED"}) == counted + 1


def test_unmatched_receipt_is_still_acked_and_counted_unmatched(rig: Rig) -> None:
    unmatched = sample("smpp_gateway_receipts_unmatched_total")
    answer = rig.intake.deliver(deliver(RECEIPT, esm_class=0x04), "trx0")
    rig.store.commits[0].set_result(False)
    assert resp(answer) == codec.ESME_ROK
    assert sample("smpp_gateway_receipts_unmatched_total") == unmatched + 1


@pytest.mark.parametrize(
    "text",
    [b"hello, this is no receipt", b"stat:DELIVRD err:000", b"id: stat:DELIVRD", b"id:123"],
    ids=["prose", "no-id", "empty-id", "no-stat"],
)
def test_unreadable_receipt_is_answered_rx_p_appn_and_not_stored(rig: Rig, text: bytes) -> None:
    rejected = sample("smpp_gateway_deliver_rejected_total", {"reason": "unreadable"})
    assert rig.intake.deliver(deliver(text, esm_class=0x04), "trx0") == codec.ESME_RX_P_APPN
    assert rig.store.receipts == [] and rig.store.commits == []
    assert sample("smpp_gateway_deliver_rejected_total", {"reason": "unreadable"}) == rejected + 1


def test_receipt_the_store_refuses_is_answered_rx_t_appn(rig: Rig) -> None:
    rejected = sample("smpp_gateway_deliver_rejected_total", {"reason": "store"})
    rig.store.refuse = StoreError("writer queue full")
    assert rig.intake.deliver(deliver(RECEIPT, esm_class=0x04), "trx0") == codec.ESME_RX_T_APPN
    assert sample("smpp_gateway_deliver_rejected_total", {"reason": "store"}) == rejected + 1


@pytest.mark.parametrize("esm_class", [0x04, 0x00], ids=["receipt", "inbound"])
def test_deliver_whose_commit_fails_is_answered_rx_t_appn(rig: Rig, esm_class: int) -> None:
    text = RECEIPT if esm_class else b"Hello"
    answer = rig.intake.deliver(deliver(text, esm_class=esm_class), "trx0")
    rig.store.commits[0].set_exception(StoreError("disk I/O error"))
    assert resp(answer) == codec.ESME_RX_T_APPN  # the SMSC delivers it again later


# -- inbound messages --------------------------------------------------------------------------


def test_inbound_single_part_is_decoded_and_acked_after_the_commit(rig: Rig) -> None:
    parts = sample("smpp_gateway_inbound_parts_total")
    answer = rig.intake.deliver(deliver(b"Hello @ home"), "trx1")
    assert rig.store.parts == [
        InboundPart(
            received_at=NOW,
            sender="41791234567",
            receiver="MITTO",
            coding="GSM",
            text="Hello \u00a1 home",  # GSM 03.38: 0x40 is the inverted exclamation mark
            reference=None,
            total=1,
            number=1,
        )
    ]
    assert isinstance(answer, Future) and not answer.done()
    rig.store.commits[0].set_result(None)
    assert resp(answer) == codec.ESME_ROK
    assert sample("smpp_gateway_inbound_parts_total") == parts + 1


def test_inbound_sar_part_carries_reference_total_and_number(rig: Rig) -> None:
    sar = (
        (codec.TAG_SAR_MSG_REF_NUM, (300).to_bytes(2, "big")),
        (codec.TAG_SAR_TOTAL_SEGMENTS, b"\x03"),
        (codec.TAG_SAR_SEGMENT_SEQNUM, b"\x02"),
    )
    rig.intake.deliver(deliver("Grüße".encode("utf-16-be"), data_coding=8, tlvs=sar), "trx0")
    (part,) = rig.store.parts
    assert (part.reference, part.total, part.number) == (300, 3, 2)
    assert (part.coding, part.text) == ("Unicode", "Grüße")


def test_inbound_udh_part_carries_reference_total_and_number(rig: Rig) -> None:
    udh = bytes([0x05, 0x00, 0x03, 0x2A, 0x02, 0x01])
    rig.intake.deliver(deliver(udh + b"Hi there", esm_class=0x40), "trx0")
    (part,) = rig.store.parts
    assert (part.reference, part.total, part.number) == (42, 2, 1)
    assert (part.coding, part.text) == ("GSM", "Hi there")
