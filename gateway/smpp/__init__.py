"""SMPP sessions: the only package that imports smpplib (codec.py builds binds with it)."""

from gateway.smpp.codec import is_transient, status_name
from gateway.smpp.link import DeliverSink
from gateway.smpp.pool import SessionPool, session_settings
from gateway.smpp.session import SessionHandler, SessionSettings, SmppSession
from gateway.smpp.tls import tls_context

__all__ = [
    "DeliverSink",
    "SessionHandler",
    "SessionPool",
    "SessionSettings",
    "SmppSession",
    "is_transient",
    "session_settings",
    "status_name",
    "tls_context",
]
