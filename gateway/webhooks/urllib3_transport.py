"""The urllib3 transport: `concurrency` threads, one blocking request each at a time.

The dispatcher's transport before pycurl's (gateway/webhooks/curl_transport.py, which
costs 5-10x less CPU per request: docs/benchmarks.md, "Webhook client"); kept as the
second implementation of gateway/webhooks/transport.py, which the dispatcher's tests run
too. One PoolManager shared by the threads: pools keyed by host:port and scheme, each
keeping up to `concurrency` connections alive; no retries, no redirects, a total timeout
per request; https verified with ssl's default context (the system CA certificates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

from gateway.webhooks.attempt import network_error
from gateway.webhooks.transport import MAX_ANSWER, RETRY_AFTER_STATUSES, Jobs, Reply, Request

log = logging.getLogger("gateway.webhooks")


class Urllib3Transport:
    """See the module docstring; threads are named webhook-worker-1..N."""

    def __init__(self, concurrency: int, timeout: float) -> None:
        self._concurrency = concurrency
        self._http = urllib3.PoolManager(
            num_pools=max(10, concurrency),
            maxsize=concurrency,
            retries=False,
            timeout=urllib3.Timeout(total=timeout),
        )

    def loops(self, jobs: Jobs) -> list[tuple[str, Callable[[], None]]]:
        return [
            (f"webhook-worker-{n}", partial(self._work, jobs))
            for n in range(1, self._concurrency + 1)
        ]

    def wake(self) -> None:
        """Nothing to do: idle workers wait on the dispatcher's hand-off queue itself."""

    def close(self) -> None:
        self._http.clear()

    def _work(self, jobs: Jobs) -> None:
        while not jobs.stopping():
            job = jobs.take(wait=True)
            if job is not None:
                jobs.done(job, self.exchange(job.request))

    def exchange(self, request: Request) -> Reply:
        """Make the request and read (the start of) the answer; never raises."""
        target = request.target
        try:
            pool = self._http.connection_from_host(
                target.url_host, port=target.port, scheme=target.scheme
            )
            response = pool.urlopen(
                request.method,
                target.request_uri,
                body=request.body,
                headers=request.headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )
        except LocationValueError as exc:
            return Reply(0, error=f"unusable URL: {type(exc).__name__}")
        except (HTTPError, OSError) as exc:
            return Reply(None, error=network_error(exc))
        except Exception as exc:  # anything unexpected is retried, not lost
            log.exception("webhook %s: unexpected error", request.headers.get("X-Webhook-Id"))
            return Reply(None, error=network_error(exc))
        status = response.status
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = response.headers.get("Retry-After")
        content = read_and_release(response)
        return Reply(status, response.reason or "", content, retry_after)


def read_and_release(response: Any) -> bytes | None:
    """Read the answer's body (the start of it) and give the connection back for keep-alive;
    a body longer than MAX_ANSWER is not waited for: that connection is dropped instead.
    None when the body broke off."""
    try:
        content = response.read(MAX_ANSWER + 1, decode_content=False)
    except (HTTPError, OSError):
        content = None
    if content is None or len(content) > MAX_ANSWER:
        response.close()
    response.release_conn()
    return content
