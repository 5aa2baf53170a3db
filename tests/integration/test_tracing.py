"""Tracing under gunicorn's gevent workers, exported by OTLP/HTTP to a collector of the test's own."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import register
from tests.live import LiveClient

RID = "scoreboard.request_id"


class Collector(ThreadingHTTPServer):
    """Takes OTLP/HTTP trace exports on /v1/traces and keeps their spans and resources."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Export)
        self.spans: list[Span] = []
        self.services: set[str] = set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def named(self, name: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name]


class _Export(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource in export.resource_spans:
                self.server.services.add(attributes(resource.resource)["service.name"])
                for scope in resource.scope_spans:
                    self.server.spans.extend(scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet."""


def attributes(item: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in item.attributes}


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["embedded", "production"])
def traced(request: pytest.FixtureRequest, collector: Collector) -> Gunicorn:
    """One gevent worker tracing to the collector. The batch's delay is a minute, so its spans go
    out only as it stops: those ended before SIGTERM once its live connections are sent away,
    the rest (those connections') as it exits, which takes it a second or two."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "OTEL_SERVICE_NAME": "scoreboard-it",
        "GRACEFUL_TIMEOUT": "5",
    }
    if request.param == "embedded":
        return request.getfixturevalue("embedded_host")(**env)
    return request.getfixturevalue("hosts")(1, workers=1, **env)[0]


def score(base: str, access: str, rid: str) -> None:
    """Score once, as request `rid` (no response kept: its connection would hold the worker)."""
    auth = {"Authorization": f"Bearer {access}"}
    with requests.Session() as http:
        body = {"action_type": "complete_task"}
        r = http.post(f"{base}/api/v1/actions/token", json=body, headers=auth, timeout=10)
        body = {"action_token": r.json()["action_token"]}
        r = http.post(f"{base}/api/v1/scores", json=body, headers={**auth, "X-Request-ID": rid}, timeout=10)
        assert r.status_code == 200, r.text


def test_a_worker_traces_a_submit_and_its_broadcast(traced: Gunicorn, collector: Collector) -> None:
    uid, access = register(traced.url, "traced")
    viewers = [LiveClient(traced.url, "ws"), LiveClient(traced.url, "sse")]
    for viewer in viewers:
        viewer.wait_for(lambda m: m.get("type") == "leaderboard_update")
    score(traced.url, access, "it-submit-1")
    for viewer in viewers:
        viewer.wait_for(lambda m: any(e["user_id"] == uid for e in m.get("data", {}).get("leaderboard", [])))
    traced.stop()  # SIGTERM: the viewers are sent away, the worker exits and flushes
    log = traced.log_path.read_text
    wait_until(lambda: collector.named("GET /ws/scoreboard"), 10, "the exiting worker's spans", log)

    assert collector.services == {"scoreboard-it"}
    (submit,) = [s for s in collector.named("POST /api/v1/scores") if attributes(s)[RID] == "it-submit-1"]
    assert submit.kind == Span.SPAN_KIND_SERVER
    steps = {name: [s for s in collector.named(name) if s.trace_id == submit.trace_id] for name in STEPS}
    assert all(len(found) == 1 for found in steps.values()), steps
    gate, batch, publish, rank = (steps[name][0] for name in STEPS)
    assert gate.parent_span_id == batch.parent_span_id == publish.parent_span_id == submit.span_id
    assert rank.parent_span_id == publish.span_id
    assert {attributes(s)[RID] for s in (gate, batch, publish, rank)} == {"it-submit-1"}
    # the broadcast that carried the change: a trace of its own, linked to the submit's publish
    (broadcast,) = [
        b for b in collector.named("broadcast") if any(lk.span_id == publish.span_id for lk in b.links)
    ]
    assert broadcast.trace_id != submit.trace_id
    assert attributes(broadcast)["scoreboard.connections"] == 2
    # each live connection is one server span, ended when the connection closed
    server = [s for s in collector.spans if s.kind == Span.SPAN_KIND_SERVER]
    codes = {s.name: attributes(s).get("http.response.status_code") for s in server}
    assert codes["GET /ws/scoreboard"] == 101 and codes["GET /events/scoreboard"] == 200


STEPS = ("gate", "database batch", "publish", "rank index")
