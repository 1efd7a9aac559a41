"""smpp-gateway: an SMPP 3.4 to HTTP gateway speaking the Mitto REST dialect."""

__version__ = "0.1.0"
