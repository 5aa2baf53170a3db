"""OpenTelemetry tracing (the `tracing` extra), on when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Off, nothing of OpenTelemetry is imported and a traced step costs one check of a module global:
`span` hands out one shared null context. On, `app.tracing.otel` makes the spans: one server span
per request (continuing the caller's W3C `traceparent`), the steps of a submit (`gate`,
`database batch`, `publish` and its `rank index`) and each `broadcast`, every one carrying the
request id. The provider is made in the process that serves (a gunicorn worker, after fork) and
flushed when it stops.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

    from app.tracing.otel import Tracing

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_NULL: AbstractContextManager[Any] = contextlib.nullcontext()
_on: Tracing | None = None  # set while tracing


def wanted() -> bool:
    """Whether the environment asks for tracing (an OTLP endpoint, and the SDK not disabled)."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(os.environ.get(name) for name in ENDPOINTS)


def start() -> None:
    """Trace to the OTLP endpoint the OTEL_* variables name, if they name one (once per process)."""
    global _on
    if _on is None and wanted():
        from app.tracing.otel import Tracing

        _on = Tracing.from_environment()


def install(processor: SpanProcessor) -> None:
    """Trace to `processor` instead (tests: the SDK's in-memory exporter); `stop` undoes it."""
    global _on
    from app.tracing.otel import Tracing

    stop()
    _on = Tracing(processor)


def flush() -> None:
    """Export the spans ended so far (a stopping worker, which may be killed before it exits)."""
    if _on is not None:
        _on.flush()


def stop() -> None:
    """Export what is pending and stop tracing (a worker stopping)."""
    global _on
    if _on is not None:
        _on.stop()
        _on = None


def serving(environ: dict[str, Any], rid: str) -> AbstractContextManager[Any]:
    """The server span of one request, current while the request layer serves it."""
    return _NULL if _on is None else _on.serving(environ, rid)


def answered(environ: dict[str, Any], route: str | None, status: int) -> None:
    """Name a request's span after its route (None: no route matched) and note its status."""
    if _on is not None:
        _on.answered(environ, route, status)


def span(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
    """A child of the current span (or a span of its own, outside any)."""
    return _NULL if _on is None else _on.span(name, attributes)


def caused(name: str, causes: Sequence[Any], attributes: Mapping[str, Any]) -> AbstractContextManager[Any]:
    """A span of its own trace (work nobody waits for) linked to the spans that caused it."""
    return _NULL if _on is None else _on.caused(name, causes, attributes)


def current() -> Any:
    """The current span, to link to later; None when tracing is off or no span is current."""
    return None if _on is None else _on.current()


def batched(members: Sequence[Any]) -> None:
    """In a group commit's leader: link its span and each member's (`current()` as they queued)."""
    if _on is not None:
        _on.batched(members)
