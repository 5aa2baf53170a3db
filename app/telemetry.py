"""Which process answered, request ids and the Prometheus request metrics.

Imports nothing of the app, so the request layer, the services and the views can all use it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

REQUESTS = Counter("scoreboard_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("scoreboard_http_request_seconds", "HTTP request latency", ["endpoint"])
SUBMISSIONS = Counter("scoreboard_score_submissions_total", "Score submissions", ["outcome", "reason"])

SERVED_BY = f"{socket.gethostname()}:{os.getpid()}"  # which process answered (loaded after fork)
REQUEST_ID = "scoreboard.request_id"  # the environ key the request layer puts the id under
# The environ key of the layer's `(status, headers) -> headers` for a response that writes its
# own head on the socket (SSE under gunicorn): what start_response would have added and counted.
OWN_HEAD = "scoreboard.own_head"
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,64}")

_COUNTERS: dict[tuple[str, str, int], Any] = {}  # labelled children, looked up once
_HISTOGRAMS: dict[str, Any] = {}


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is sane (1-64 URL-safe characters), else a new one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return secrets.token_hex(8)


def record(method: str, endpoint: str, status: int, started: float) -> None:
    """Count a request and its latency (from `started`, a perf_counter reading)."""
    key = (method, endpoint, status)
    counter = _COUNTERS.get(key) or _COUNTERS.setdefault(key, REQUESTS.labels(*key))
    histogram = _HISTOGRAMS.get(endpoint) or _HISTOGRAMS.setdefault(endpoint, LATENCY.labels(endpoint))
    counter.inc()
    histogram.observe(time.perf_counter() - started)


class SubmitCounts(Protocol):
    """Where a process counts its submits per minute (app.admin.activity.Activity)."""

    def count(self, accepted: bool) -> None: ...


def record_submission(error_code: str | None, per_minute: SubmitCounts) -> None:
    """Count a score submission, accepted or rejected with its code: in the Prometheus counter and
    in the process's counts per minute (the admin page's activity)."""
    SUBMISSIONS.labels("accepted" if error_code is None else "rejected", error_code or "").inc()
    per_minute.count(error_code is None)
