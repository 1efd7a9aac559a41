"""Pure SMS functions: encoding, decoding, segmentation and addresses (no I/O, no clock).

Why a package of its own: the HTTP layer validates requests with these functions
(raising `SmsError` with the provider's responseCode) and the engine submits what
`encode_message` produced; both must agree byte for byte, and all of it can be
tested without a socket.
"""

from gateway.sms.address import Address, normalize_receiver, receiver_address, sender_address
from gateway.sms.decoding import InboundText, PartInfo, concat_info, decode, split_udh
from gateway.sms.encoding import EncodedMessage, encode_message, parse_type, text_length
from gateway.sms.errors import RESPONSE_TEXTS, SmsError
from gateway.sms.segment import parse_udh

__all__ = [
    "RESPONSE_TEXTS",
    "Address",
    "EncodedMessage",
    "InboundText",
    "PartInfo",
    "SmsError",
    "concat_info",
    "decode",
    "encode_message",
    "normalize_receiver",
    "parse_type",
    "parse_udh",
    "receiver_address",
    "sender_address",
    "split_udh",
    "text_length",
]
