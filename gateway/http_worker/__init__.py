"""The HTTP server below the Flask application: our gunicorn worker class.

gunicorn loads it by name, `gateway.http_worker.BufferingThreadWorker` (server.py,
bench/bare_app.py, docs/hardening-server.md), so that name stays importable here. The
parts, one concept each:

- framing.py: where one HTTP/1.1 request ends, from the bytes so far (no I/O).
- connection.py: one connection's state and deadlines, from bytes and times (no I/O).
- deadlines.py: the heap of every connection's deadline (no I/O).
- replay.py: the buffered request as gunicorn's parser reads it in a request thread.
- tls.py: the TLS server context (also built by config_load.py to check the files).
- worker.py: the gunicorn worker: selector loop, sockets, request threads.
"""

from gateway.http_worker.tls import TlsSetupError, server_context
from gateway.http_worker.worker import BufferingThreadWorker, WorkerSettings

__all__ = ["BufferingThreadWorker", "TlsSetupError", "WorkerSettings", "server_context"]
