"""Health, readiness, Prometheus metrics, and JSON logs carrying a request id."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from app.services import services

REQUESTS = Counter("scoreboard_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("scoreboard_http_request_seconds", "HTTP request latency", ["endpoint"])
SUBMISSIONS = Counter("scoreboard_score_submissions_total", "Score submissions", ["outcome", "reason"])

_COUNTERS: dict[tuple[str, str, int], Any] = {}  # labelled children, looked up once
_HISTOGRAMS: dict[str, Any] = {}
bp = Blueprint("meta", __name__)
SERVED_BY = f"{socket.gethostname()}:{os.getpid()}"  # which process answered (loaded after fork)


@bp.get("/healthz")
def healthz() -> Response:
    return Response(orjson.dumps({"status": "ok"}), mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    s = services()
    checks: dict[str, str] = {}
    try:
        with s.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if s.redis is not None:
        try:
            s.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return Response(orjson.dumps(body), status=200 if ready else 503, mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
            entry["path"] = request.path
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID (trimmed), or a new one."""
    return (header or "")[:64] or secrets.token_hex(8)


def record(method: str, endpoint: str, status: int, started: float) -> None:
    """Count a request and its latency (from `started`, a perf_counter reading)."""
    key = (method, endpoint, status)
    counter = _COUNTERS.get(key) or _COUNTERS.setdefault(key, REQUESTS.labels(*key))
    histogram = _HISTOGRAMS.get(endpoint) or _HISTOGRAMS.setdefault(endpoint, LATENCY.labels(endpoint))
    counter.inc()
    histogram.observe(time.perf_counter() - started)


def record_submission(error_code: str | None) -> None:
    """Count a score submission: accepted, or rejected with its code."""
    SUBMISSIONS.labels("accepted" if error_code is None else "rejected", error_code or "").inc()


def init_observability(app: Flask) -> None:
    """Register the endpoints, request ids, metrics hooks and (if asked) JSON logging."""
    app.register_blueprint(bp)
    if app.config.get("LOG_JSON"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)

    @app.before_request
    def _begin() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID"))
        g.started = time.perf_counter()

    @app.after_request
    def _end(response: Response) -> Response:
        endpoint = request.endpoint or "none"
        record(request.method, endpoint, response.status_code, g.get("started", time.perf_counter()))
        if endpoint == "api.submit_score":
            record_submission(g.get("error_code"))
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Served-By"] = SERVED_BY
        return response
