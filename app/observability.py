"""Health, readiness, the Prometheus metrics endpoint, and JSON logs carrying the request id."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal

import orjson
from flask import Blueprint, Flask, Response, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from app.services import services
from app.shapes import TypedDict, closed
from app.telemetry import REQUEST_ID

bp = Blueprint("meta", __name__)


@closed
class Health(TypedDict):
    status: Literal["ok"]


@closed
class Ready(TypedDict):
    """Readiness: each dependency "ok" or "error: <type>"."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


@bp.get("/healthz")
def healthz() -> Response:
    body: Health = {"status": "ok"}
    return Response(orjson.dumps(body), mimetype="application/json")


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
    if s.draining:
        checks["process"] = "error: stopping"  # a load balancer should send nobody new here
    ready = all(v == "ok" for v in checks.values())
    body: Ready = {"status": "ready" if ready else "unavailable", "checks": checks}
    return Response(orjson.dumps(body), status=200 if ready else 503, mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    """The whole host's series: under gunicorn (PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py)
    the sum of every worker's files, counters across worker restarts; else this process's own."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = request.environ.get(REQUEST_ID)
            entry["path"] = request.path
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def init_observability(app: Flask) -> None:
    """Register the endpoints and (if asked) JSON logging; the request layer (app/edge.py) does the rest."""
    app.register_blueprint(bp)
    if app.config.get("LOG_JSON"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
