"""Logging: one JSON object per line on stdout (or readable text for development).

Why JSON: journald and log shippers then need no parsing rules. Context travels as
`extra={...}` fields (or a LoggerAdapter's), which become keys of the object. What the
code passes today: `session` on every record of an SMPP session or link and on each PDU
line of log.pdu_debug (gateway/smpp/), `message_id` when a message fails
(gateway/engine.py), `api_key_id` when an unknown request field is logged
(gateway/http/unknown_fields.py), and the access log's `method`, `path`, `status`,
`duration_ms`, `remote` and, for an authenticated request, `client` (below). Other
records name their ids in the text. gunicorn's own error and access logs are routed
through the same handler (GunicornLogger), so one stream has one format. Message text
and phone numbers are never put in INFO records; the access log writes the path without
its query string, because `GET /sms` carries the text and the receiver there.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from gunicorn.glogging import Logger as _GunicornBaseLogger

FORMATS = ("json", "text")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
        f".{int(record.msecs):03d}Z"
    )


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record (session, message_id, api_key_id, access fields)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _client(environ: dict[str, Any]) -> dict[str, str]:
    """The client of an authenticated request (gateway/http sets it on the environ)."""
    client = environ.get("smpp_gateway.client")
    return {"client": client} if client else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "thread": record.threadName,
        }
        entry.update(context_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`ts level logger: event key=value ...`, for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in context_fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


PDU_LOGGER = "gateway.smpp.pdu"  # one record per PDU in or out (log.pdu_debug)


def configure(level: str, fmt: str = "json", pdu_debug: bool = False) -> None:
    """Install the one stdout handler on the root logger; `pdu_debug` turns on the PDU
    logger at debug level whatever `level` is (it is noisy: for troubleshooting)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("smpplib").setLevel(logging.WARNING)
    logging.getLogger(PDU_LOGGER).setLevel(logging.DEBUG if pdu_debug else logging.WARNING)


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger with its handlers removed: records propagate to our root handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        status = int(str(resp.status).split(None, 1)[0])
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "remote": environ.get("REMOTE_ADDR"),
                **_client(environ),
            },
        )
