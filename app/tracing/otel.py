"""The OpenTelemetry side of app.tracing, imported only when tracing is on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from app.telemetry import REQUEST_ID

DEFAULT_SERVICE = "live-scoreboard"
SPAN = "scoreboard.span"  # the environ key of a request's server span
_RID = context.create_key(REQUEST_ID)  # the request id, in the context of a request's spans


class _Environ(Getter[dict[str, Any]]):
    """Reads the propagation headers (traceparent, tracestate, baggage) from a WSGI environ."""

    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [value]

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_ENVIRON = _Environ()


class _RequestIds(SpanProcessor):
    """Gives every span started within a request that request's id."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        rid = context.get_value(_RID, parent_context)
        if rid is not None:
            span.set_attribute(REQUEST_ID, str(rid))


class _Serving:
    """A request's server span: current while the request layer runs, ended however it ends (a
    WebSocket or SSE connection's when it closes)."""

    __slots__ = ("tracer", "environ", "rid", "span", "token")

    def __init__(self, tracer: trace.Tracer, environ: dict[str, Any], rid: str):
        self.tracer, self.environ, self.rid = tracer, environ, rid

    def __enter__(self) -> trace.Span:
        parent = context.set_value(_RID, self.rid, propagate.extract(self.environ, getter=_ENVIRON))
        method = self.environ.get("REQUEST_METHOD", "")
        attributes = {"http.request.method": method, "url.path": self.environ.get("PATH_INFO", "")}
        self.span = self.tracer.start_span(method, parent, kind=SpanKind.SERVER, attributes=attributes)
        self.environ[SPAN] = self.span
        self.token = context.attach(trace.set_span_in_context(self.span, parent))
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        context.detach(self.token)
        # StopIteration: gunicorn's sign that the response took its socket over (WebSocket, SSE)
        if exc is not None and not isinstance(exc, StopIteration):
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self.span.end()


class Tracing:
    """A tracer provider sending every span to one processor."""

    def __init__(self, processor: SpanProcessor):
        self.provider = TracerProvider(resource=_resource())
        self.provider.add_span_processor(_RequestIds())
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("app")

    @classmethod
    def from_environment(cls) -> Tracing:
        """Batches of spans to the OTLP/HTTP endpoint the OTEL_* variables describe."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls(BatchSpanProcessor(OTLPSpanExporter()))

    def flush(self) -> None:
        self.provider.force_flush()

    def stop(self) -> None:
        self.provider.shutdown()  # exports what is still queued

    def serving(self, environ: dict[str, Any], rid: str) -> _Serving:
        return _Serving(self.tracer, environ, rid)

    def answered(self, environ: dict[str, Any], route: str | None, status: int) -> None:
        span = environ.get(SPAN)
        if span is None:
            return
        method = environ.get("REQUEST_METHOD", "")
        span.update_name(f"{method} {route}" if route else method)
        span.set_attribute("http.response.status_code", status)
        if route:
            span.set_attribute("http.route", route)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))

    def span(self, name: str, attributes: Mapping[str, Any] | None) -> AbstractContextManager[Any]:
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def caused(
        self, name: str, causes: Sequence[Any], attributes: Mapping[str, Any]
    ) -> AbstractContextManager[Any]:
        links = [_link(cause) for cause in _distinct(causes)]
        return self.tracer.start_as_current_span(name, context=Context(), attributes=attributes, links=links)

    @staticmethod
    def current() -> Any:
        span = trace.get_current_span()
        return span if span.is_recording() else None

    @staticmethod
    def batched(members: Sequence[Any]) -> None:
        """The leader's span links to every other member's, each of them back to the leader's;
        every one is told the batch's size and whether it led."""
        leader = trace.get_current_span()
        if not leader.is_recording():
            return
        for member in _distinct([leader, *members]):
            member.set_attributes(
                {"scoreboard.batch.size": len(members), "scoreboard.batch.led": member is leader}
            )
            if member is not leader:
                member.add_link(leader.get_span_context(), _rid_of(leader))
                leader.add_link(member.get_span_context(), _rid_of(member))


def _resource() -> Resource:
    """The process's resource: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, else our name."""
    named = SERVICE_NAME in OTELResourceDetector().detect().attributes
    return Resource.create({} if named else {SERVICE_NAME: DEFAULT_SERVICE})


def _distinct(spans: Sequence[Any]) -> list[Any]:
    """The spans, each once (several items of one caller share its span), in order."""
    return list({id(s): s for s in spans if s is not None}.values())


def _rid_of(span: Any) -> dict[str, Any]:
    """The request id of a span, as a link's attributes."""
    rid = (getattr(span, "attributes", None) or {}).get(REQUEST_ID)
    return {} if rid is None else {REQUEST_ID: rid}


def _link(span: Any) -> Link:
    return Link(span.get_span_context(), _rid_of(span))
