"""The stack's ceiling: a bare Flask app answering a canned JSON on the gateway's gunicorn.

Same worker class (gateway.http_worker.BufferingThreadWorker), worker count, threads,
shared listening socket and keep-alive as `smpp-gateway run`, and POST /sms reads its body as the
gateway does; it stores and sends nothing. What the gateway reaches against it is what
the gateway's own work costs on top of gunicorn + Flask.

    .venv/bin/python -m bench.bare_app --port 8081 [--workers 0] [--threads 32]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

ANSWER = json.dumps(
    {
        "id": "0193a1c4-0000-7000-8000-000000000000",
        "timestamp": "2026-12-01T00:00:00.0000000Z",
        "to": "41791234567",
        "responseCode": 0,
        "responseText": "SMS sent",
        "textLength": 13,
        "messageParts": 1,
    }
)


def create_app() -> Flask:
    app = Flask("bare")

    @app.post("/sms")
    def sms() -> Response:
        request.get_data()  # read the body, as the gateway does
        return Response(ANSWER, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    return app


READY_LINE = "bare app worker ready"


def _announce(worker: Any) -> None:
    """One line per worker about to serve: bench/stack.py waits for all of them."""
    print(f"{READY_LINE} {worker.pid}", flush=True)


class BareApplication(BaseApplication):
    def __init__(self, port: int, workers: int, threads: int) -> None:
        self._settings = {
            "bind": [f"127.0.0.1:{port}"],
            "workers": workers or os.cpu_count() or 1,
            "worker_class": "gateway.http_worker.BufferingThreadWorker",
            "threads": threads,
            "reuse_port": False,
            "keepalive": 75,
            "errorlog": "-",
            "loglevel": "warning",
            "control_socket_disable": True,
            "post_worker_init": _announce,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU core")
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    BareApplication(args.port, args.workers, args.threads).run()


if __name__ == "__main__":
    main()
