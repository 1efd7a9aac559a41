"""Hand-written SMPP 3.4 PDU framing, encoding and decoding for the SMSC simulator.

The simulator must answer tens of thousands of submit_sm per second on one core,
so this module avoids smpplib's per-field object machinery: headers are a single
`struct` call, C-octet strings are found with `bytes.index`, and decoded strings
stay `bytes` until someone (the PDU log, the control API) asks for a dict.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

HEADER = struct.Struct("!IIII")
HEADER_LEN = 16
MAX_PDU_LEN = 64 * 1024
TLV_HEADER = struct.Struct("!HH")

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
REPLACE_SM = 0x00000007
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
SUBMIT_MULTI = 0x00000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103
RESP = 0x80000000

BIND_COMMANDS = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})

_REQUEST_NAMES: dict[int, str] = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_TRANSMITTER: "bind_transmitter",
    QUERY_SM: "query_sm",
    SUBMIT_SM: "submit_sm",
    DELIVER_SM: "deliver_sm",
    UNBIND: "unbind",
    REPLACE_SM: "replace_sm",
    CANCEL_SM: "cancel_sm",
    BIND_TRANSCEIVER: "bind_transceiver",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    SUBMIT_MULTI: "submit_multi",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm",
}
COMMAND_NAMES: dict[int, str] = {
    **_REQUEST_NAMES,
    **{cmd | RESP: name + "_resp" for cmd, name in _REQUEST_NAMES.items() if cmd != GENERIC_NACK},
}

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RSUBMITFAIL = 0x45
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # the client's temporary error: the SMSC delivers again later
ESME_RX_P_APPN = 0x65  # its permanent error: the SMSC gives up on that deliver_sm
ESME_RX_R_APPN = 0x66

STATUS_NAMES: dict[int, str] = {
    value: name for name, value in globals().items() if name.startswith("ESME_R")
}
STATUS_NAMES.update({0xFE: "ESME_RDELIVERYFAILURE", 0xFF: "ESME_RUNKNOWNERR"})

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427


class PduError(ValueError):
    """A PDU body that does not match its command's layout."""


class ShortMessage(NamedTuple):
    """The mandatory fields of submit_sm / deliver_sm (same layout) plus TLVs.

    Strings stay `bytes` so the hot path never decodes; `as_dict` does that.
    """

    service_type: bytes = b""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: bytes = b""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: bytes = b""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: bytes = b""
    validity_period: bytes = b""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def payload(self) -> bytes:
        """The message text bytes: short_message minus its UDH, or message_payload."""
        data = self.short_message
        if not data:
            for tag, value in self.tlvs:
                if tag == TAG_MESSAGE_PAYLOAD:
                    data = value
        if self.esm_class & 0x40 and data:
            return data[1 + data[0] :]
        return data

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view used by the PDU log and the control API."""
        out: dict[str, Any] = {}
        for name, value in zip(self._fields, self, strict=True):
            if name in ("short_message", "tlvs"):
                continue
            out[name] = value.decode("latin-1") if isinstance(value, bytes) else value
        sm = self.short_message
        out["short_message"] = sm.hex()
        if self.esm_class & 0x40 and sm:
            out["udh"] = sm[: 1 + sm[0]].hex()
        out["tlvs"] = {f"0x{tag:04x}": value.hex() for tag, value in self.tlvs}
        return out


def parse_tlvs(body: bytes, pos: int) -> tuple[tuple[int, bytes], ...]:
    """Generic TLV list from `pos` to the end of the body."""
    tlvs = []
    end = len(body)
    while pos < end:
        if end - pos < 4:
            raise PduError("truncated TLV header")
        tag, length = TLV_HEADER.unpack_from(body, pos)
        pos += 4
        if pos + length > end:
            raise PduError(f"TLV 0x{tag:04x} overruns the PDU")
        tlvs.append((tag, body[pos : pos + length]))
        pos += length
    return tuple(tlvs)


def parse_sm(body: bytes) -> ShortMessage:
    """Decode a submit_sm / deliver_sm body; raises PduError when malformed."""
    try:
        find = body.index
        e = find(0)
        service_type = body[:e]
        src_ton, src_npi = body[e + 1], body[e + 2]
        p = e + 3
        e = find(0, p)
        source_addr = body[p:e]
        dst_ton, dst_npi = body[e + 1], body[e + 2]
        p = e + 3
        e = find(0, p)
        destination_addr = body[p:e]
        esm_class, protocol_id, priority = body[e + 1], body[e + 2], body[e + 3]
        p = e + 4
        e = find(0, p)
        schedule = body[p:e]
        p = e + 1
        e = find(0, p)
        validity = body[p:e]
        rd, rip, dc, dflt, sm_length = body[e + 1 : e + 6]
    except (ValueError, IndexError) as exc:
        raise PduError("truncated short message PDU") from exc
    p = e + 6
    short_message = body[p : p + sm_length]
    if len(short_message) != sm_length:
        raise PduError("sm_length overruns the PDU")
    p += sm_length
    tlvs = parse_tlvs(body, p) if p < len(body) else ()
    return ShortMessage(
        service_type, src_ton, src_npi, source_addr, dst_ton, dst_npi, destination_addr,
        esm_class, protocol_id, priority, schedule, validity, rd, rip, dc, dflt,
        short_message, tlvs,
    )  # fmt: skip


def encode_tlvs(tlvs: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]]) -> bytes:
    return b"".join(TLV_HEADER.pack(tag, len(value)) + value for tag, value in tlvs)


def encode_sm(sm: ShortMessage) -> bytes:
    """Encode a submit_sm / deliver_sm body."""
    if len(sm.short_message) > 254:
        raise PduError("short_message longer than 254 octets; use message_payload")
    return b"".join(
        (
            sm.service_type + b"\0",
            bytes((sm.source_addr_ton, sm.source_addr_npi)),
            sm.source_addr + b"\0",
            bytes((sm.dest_addr_ton, sm.dest_addr_npi)),
            sm.destination_addr + b"\0",
            bytes((sm.esm_class, sm.protocol_id, sm.priority_flag)),
            sm.schedule_delivery_time + b"\0",
            sm.validity_period + b"\0",
            bytes((sm.registered_delivery, sm.replace_if_present_flag, sm.data_coding)),
            bytes((sm.sm_default_msg_id, len(sm.short_message))),
            sm.short_message,
            encode_tlvs(sm.tlvs),
        )
    )


def pdu(command: int, status: int, seq: int, body: bytes = b"") -> bytes:
    """A whole PDU: header plus body."""
    return HEADER.pack(HEADER_LEN + len(body), command, status, seq) + body


def c_strings(body: bytes, count: int) -> tuple[list[bytes], int]:
    """The first `count` C-octet strings of a body and the offset after them."""
    out = []
    pos = 0
    try:
        for _ in range(count):
            end = body.index(0, pos)
            out.append(body[pos:end])
            pos = end + 1
    except ValueError as exc:
        raise PduError("missing C-octet string terminator") from exc
    return out, pos


def parse_bind(body: bytes) -> dict[str, Any]:
    """system_id, password, system_type, interface_version, addr_ton/npi, address_range."""
    (system_id, password, system_type), pos = c_strings(body, 3)
    if len(body) < pos + 3:
        raise PduError("truncated bind")
    (address_range,), _ = c_strings(body[pos + 3 :], 1)
    return {
        "system_id": system_id.decode("latin-1"),
        "password": password.decode("latin-1"),
        "system_type": system_type.decode("latin-1"),
        "interface_version": body[pos],
        "addr_ton": body[pos + 1],
        "addr_npi": body[pos + 2],
        "address_range": address_range.decode("latin-1"),
    }


def status_name(status: int) -> str:
    """Same naming as gateway.smpp.codec.status_name, without importing smpplib here."""
    return STATUS_NAMES.get(status, f"STATUS_0x{status & 0xFFFFFFFF:08X}")


def describe(command: int, status: int, seq: int, body: bytes) -> dict[str, Any]:
    """Decode any PDU into a JSON-ready dict for the PDU log (never on the hot path)."""
    out: dict[str, Any] = {
        "command": COMMAND_NAMES.get(command, f"0x{command:08x}"),
        "seq": seq,
        "status": status,
    }
    try:
        out.update(_describe_body(command, body))
    except PduError as exc:
        out["error"] = str(exc)
        out["body"] = body.hex()
    return out


def _describe_body(command: int, body: bytes) -> dict[str, Any]:
    if command in (SUBMIT_SM, DELIVER_SM):
        return parse_sm(body).as_dict()
    if command in (SUBMIT_SM | RESP, DELIVER_SM | RESP, DATA_SM | RESP) and body:
        (message_id,), _ = c_strings(body, 1)
        return {"message_id": message_id.decode("latin-1")}
    if command in BIND_COMMANDS:
        fields = parse_bind(body)
        fields["password"] = "***"
        return fields
    if command & RESP and command & ~RESP in BIND_COMMANDS and body:
        (system_id,), pos = c_strings(body, 1)
        return {"system_id": system_id.decode("latin-1"), "tlvs": _tlv_dict(body, pos)}
    return {"body": body.hex()} if body else {}


def _tlv_dict(body: bytes, pos: int) -> dict[str, str]:
    return {f"0x{tag:04x}": value.hex() for tag, value in parse_tlvs(body, pos)}
