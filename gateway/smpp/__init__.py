"""SMPP sessions over smpplib: the only package that imports smpplib."""

from gateway.smpp.pool import SessionPool, session_settings
from gateway.smpp.session import SessionHandler, SessionSettings, SmppSession
from gateway.smpp.status import is_transient, status_name
from gateway.smpp.tls import tls_context

__all__ = [
    "SessionHandler",
    "SessionPool",
    "SessionSettings",
    "SmppSession",
    "is_transient",
    "session_settings",
    "status_name",
    "tls_context",
]
