"""deliver_sm bodies the simulator originates: delivery receipts and injected MO messages.

Kept apart from the connection code because this is where the "how do real SMSCs
format this" decisions live (receipt text, id formats, concatenation schemes).
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

from gateway.simulator.config import MESSAGE_STATES
from gateway.simulator.pdu import (
    TAG_MESSAGE_STATE,
    TAG_NETWORK_ERROR_CODE,
    TAG_RECEIPTED_MESSAGE_ID,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
    ShortMessage,
    encode_sm,
)

GSM_ERROR_TYPE = 3  # network_error_code network type octet: GSM
TEXT_CODECS = {0: "gsm03.38", 1: "ascii", 3: "latin-1", 4: "utf-8", 8: "utf-16-be"}


class ReceiptJob(NamedTuple):
    """What a receipt needs from its submit_sm; state/err are drawn at submit time."""

    system_id: str
    receipt_id: str
    submit_time: float
    sm: ShortMessage
    state: str
    err: int


def format_id(number: int, fmt: str) -> str:
    """Message id text: decimal or lowercase hex without prefix or padding."""
    return format(number, "x") if fmt == "hex" else str(number)


def receipt_id(number: int, id_format: str, receipt_id_format: str) -> str:
    """The id written in the receipt, which may disagree with the submit_sm_resp id."""
    return format_id(number, id_format if receipt_id_format == "same" else receipt_id_format)


def _smsc_time(t: float) -> str:
    """YYMMDDhhmm in UTC (SMSCs differ on the zone; UTC keeps tests deterministic)."""
    return time.strftime("%y%m%d%H%M", time.gmtime(t))


def _preview(sm: ShortMessage) -> str:
    text = sm.payload()[:20].decode("latin-1")
    return "".join(ch if ch.isprintable() else "." for ch in text)


def receipt_text(job: ReceiptJob, done_time: float) -> str:
    """The de-facto standard receipt text (SMPP 3.4 appendix B)."""
    dlvrd = "001" if job.state == "DELIVRD" else "000"
    return (
        f"id:{job.receipt_id} sub:001 dlvrd:{dlvrd} submit date:{_smsc_time(job.submit_time)}"
        f" done date:{_smsc_time(done_time)} stat:{job.state} err:{job.err:03d}"
        f" text:{_preview(job.sm)}"
    )


def receipt_body(job: ReceiptJob, done_time: float) -> bytes:
    """deliver_sm body (esm_class 0x04) going back from the handset to the sender."""
    sm = job.sm
    tlvs = [
        (TAG_RECEIPTED_MESSAGE_ID, job.receipt_id.encode("ascii") + b"\0"),
        (TAG_MESSAGE_STATE, bytes((MESSAGE_STATES[job.state],))),
    ]
    if job.err:
        tlvs.append((TAG_NETWORK_ERROR_CODE, bytes((GSM_ERROR_TYPE,)) + job.err.to_bytes(2, "big")))
    return encode_sm(
        ShortMessage(
            source_addr_ton=sm.dest_addr_ton,
            source_addr_npi=sm.dest_addr_npi,
            source_addr=sm.destination_addr,
            dest_addr_ton=sm.source_addr_ton,
            dest_addr_npi=sm.source_addr_npi,
            destination_addr=sm.source_addr,
            esm_class=0x04,
            short_message=receipt_text(job, done_time).encode("latin-1", "replace"),
            tlvs=tuple(tlvs),
        )
    )


def _ton_npi(address: str) -> tuple[int, int]:
    """International for long numbers, national short codes, alphanumeric otherwise."""
    digits = address.lstrip("+")
    if digits.isdigit():
        return (1, 1) if len(digits) > 6 else (0, 1)
    return 5, 0


def _encode_payload(request: dict[str, Any]) -> tuple[bytes, int]:
    """The payload bytes and data_coding of an MO request (text or raw hex)."""
    if request.get("hex") is not None:
        return bytes.fromhex(str(request["hex"])), int(request.get("data_coding", 4))
    text = str(request.get("text", ""))
    data_coding = request.get("data_coding")
    if data_coding is None:
        try:
            return text.encode("gsm03.38"), 0
        except UnicodeEncodeError:
            return text.encode("utf-16-be"), 8
    data_coding = int(data_coding)
    if data_coding not in TEXT_CODECS:
        raise ValueError(f"data_coding {data_coding} not supported for text; use hex")
    return text.encode(TEXT_CODECS[data_coding]), data_coding


def _limits(data_coding: int, udh_len: int) -> tuple[int, int]:
    """(single-message limit, per-part limit) in octets of unpacked short_message."""
    if data_coding == 0:  # unpacked GSM: one octet per septet, UDH eats ceil(bits/7)
        return 160, 160 - math.ceil(udh_len * 8 / 7)
    part = 140 - udh_len
    return 140, part - part % 2 if data_coding == 8 else part


def _split(payload: bytes, size: int, data_coding: int) -> list[bytes]:
    """Chunks of at most `size`, never splitting a GSM escape or a UTF-16 surrogate pair."""
    chunks = []
    pos = 0
    while pos < len(payload):
        end = min(pos + size, len(payload))
        if end < len(payload):
            if data_coding == 0 and payload[end - 1] == 0x1B and end - pos > 1:
                end -= 1
            elif data_coding == 8 and 0xD8 <= payload[end - 2] <= 0xDB and end - pos > 2:
                end -= 2
        chunks.append(payload[pos:end])
        pos = end
    return chunks or [b""]


def _part_size(payload: bytes, data_coding: int, parts: int, limit: int) -> int:
    if parts <= 1:
        return limit
    unit = 2 if data_coding == 8 else 1
    size = math.ceil(len(payload) / parts / unit) * unit
    return max(unit, min(size, limit))


def mo_bodies(request: dict[str, Any], ref: int) -> list[bytes]:
    """deliver_sm bodies for an injected MO; concatenated when long or `parts` > 1."""
    source, destination = str(request["source"]), str(request["destination"])
    payload, data_coding = _encode_payload(request)
    mode = "sar" if request.get("sar") else "udh16" if request.get("udh16") else "udh8"
    udh_len = 7 if mode == "udh16" else 6
    single, per_part = _limits(data_coding, udh_len)
    parts = int(request.get("parts") or 1)
    if parts <= 1 and len(payload) <= single:
        chunks = [payload]
    else:
        chunks = _split(payload, _part_size(payload, data_coding, parts, per_part), data_coding)
    src_ton, src_npi = _ton_npi(source)
    dst_ton, dst_npi = _ton_npi(destination)
    template = ShortMessage(
        source_addr_ton=src_ton,
        source_addr_npi=src_npi,
        source_addr=source.encode("latin-1"),
        dest_addr_ton=dst_ton,
        dest_addr_npi=dst_npi,
        destination_addr=destination.encode("latin-1"),
        data_coding=data_coding,
    )
    total = len(chunks)
    if total == 1:
        return [encode_sm(template._replace(short_message=chunks[0]))]
    return [_part(template, chunk, mode, ref, total, i + 1) for i, chunk in enumerate(chunks)]


def _part(sm: ShortMessage, chunk: bytes, mode: str, ref: int, total: int, seq: int) -> bytes:
    if total > 255:
        raise ValueError("more than 255 parts")
    if mode == "sar":
        tlvs = (
            (TAG_SAR_MSG_REF_NUM, (ref & 0xFFFF).to_bytes(2, "big")),
            (TAG_SAR_TOTAL_SEGMENTS, bytes((total,))),
            (TAG_SAR_SEGMENT_SEQNUM, bytes((seq,))),
        )
        return encode_sm(sm._replace(short_message=chunk, tlvs=tlvs))
    if mode == "udh16":
        udh = bytes((6, 0x08, 4)) + (ref & 0xFFFF).to_bytes(2, "big") + bytes((total, seq))
    else:
        udh = bytes((5, 0x00, 3, ref & 0xFF, total, seq))
    return encode_sm(sm._replace(esm_class=0x40, short_message=udh + chunk))
