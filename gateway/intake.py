"""deliver_sm / data_sm intake: receipts and inbound parts into the store (a DeliverSink).

Runs on a session's reader thread, so it never waits for the disk itself: it hands the
write to the store and returns a Future; the session's responder sends deliver_sm_resp
when that write has committed (ESME_ROK) or failed (ESME_RX_T_APPN, so the SMSC delivers
again). A receipt that cannot be read is answered ESME_RX_P_APPN (do not retry) and
logged: retrying garbage forever would block the SMSC's queue for us. (A PDU the codec
cannot decode at all never gets here: the session answers it.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from gateway import metrics, receipts, sms
from gateway.model import InboundPart, ReceiptRecord
from gateway.smpp import codec
from gateway.store import Store, StoreError

log = logging.getLogger("gateway.intake")


class DeliverIntake:
    """The sessions' DeliverSink (gateway/smpp/link.py)."""

    def __init__(
        self,
        store: Store,
        *,
        gsm_charset: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._gsm_charset = gsm_charset
        self._clock = clock

    def deliver(self, pdu: codec.DeliverSm, session: str) -> int | Future[int]:
        try:
            kind, future = self._route(pdu, session)
        except receipts.ReceiptParseError as exc:
            metrics.DELIVER_REJECTED.labels("unreadable").inc()
            log.warning("unreadable receipt on %s (%s): %r", session, exc, pdu)
            return codec.ESME_RX_P_APPN
        except StoreError as exc:
            metrics.DELIVER_REJECTED.labels("store").inc()
            log.error("store cannot take a deliver_sm on %s: %s", session, exc)
            return codec.ESME_RX_T_APPN
        return self._resp_when_committed(future, kind)

    def _route(self, deliver: codec.DeliverSm, session: str) -> tuple[str, Future[Any]]:
        """(metric label, the store's Future): receipts are labelled by their state."""
        if deliver.is_receipt:
            receipt = self._receipt(deliver, session)
            return receipt.state.public, self._store.record_receipt(receipt)
        return "inbound", self._store.record_inbound(self._part(deliver))

    def _receipt(self, deliver: codec.DeliverSm, session: str) -> ReceiptRecord:
        parsed = receipts.parse_receipt(deliver.payload, deliver.tlvs)
        keys = receipts.normalize_id(parsed.smsc_message_id)
        if not keys:
            raise receipts.ReceiptParseError("receipt with an empty id")
        return ReceiptRecord(
            received_at=self._clock(),
            session=session,
            smsc_message_id=parsed.smsc_message_id,
            id_keys=keys,
            stat=parsed.stat,
            state=parsed.state,
            error_code=parsed.error_code,
            done_date=parsed.done_date,
        )

    def _part(self, deliver: codec.DeliverSm) -> InboundPart:
        udh, _ = sms.split_udh(deliver.payload, deliver.has_udh)
        sar = (
            deliver.tlvs.get(codec.TAG_SAR_MSG_REF_NUM),
            deliver.tlvs.get(codec.TAG_SAR_TOTAL_SEGMENTS),
            deliver.tlvs.get(codec.TAG_SAR_SEGMENT_SEQNUM),
        )
        part = sms.concat_info(udh or None, sar)
        _, decoded = sms.decode(
            deliver.data_coding,
            deliver.payload,
            deliver.has_udh,
            self._gsm_charset,
            partial=part is not None,
        )
        return InboundPart(
            received_at=self._clock(),
            sender=deliver.source_addr,
            receiver=deliver.destination_addr,
            coding=decoded.coding,
            text=decoded.text,
            reference=part.reference if part else None,
            total=part.total if part else 1,
            number=part.number if part else 1,
        )

    def _resp_when_committed(self, stored: Future[Any], kind: str) -> Future[int]:
        status: Future[int] = Future()

        def done(f: Future[Any]) -> None:
            if f.exception() is not None:
                metrics.DELIVER_REJECTED.labels("store").inc()
                log.error("could not store a %s: %s", kind, f.exception())
                status.set_result(codec.ESME_RX_T_APPN)
                return
            if kind == "inbound":
                metrics.INBOUND_PARTS.inc()
            else:
                metrics.RECEIPTS.labels(kind).inc()
                if not f.result():
                    metrics.RECEIPTS_UNMATCHED.inc()
            status.set_result(codec.ESME_ROK)

        stored.add_done_callback(done)
        return status
