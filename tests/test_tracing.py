"""Tracing (app/tracing): the spans of requests, of a submit's steps, of group commits and of
broadcasts, read from the SDK's in-memory exporter; and nothing of OpenTelemetry when off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app import tracing
from app.batch import Batcher
from tests.conftest import ROOT
from tests.helpers import Player

RID = "scoreboard.request_id"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.stop()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def one(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = named(exporter, name)
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def wait_for(exporter: InMemorySpanExporter, name: str, timeout: float = 10.0) -> list[ReadableSpan]:
    """The spans of that name, once there is one (spans made off the request's thread)."""
    deadline = time.monotonic() + timeout
    while not named(exporter, name):
        assert time.monotonic() < deadline, f"no {name!r} span"
        threading.Event().wait(0.01)
    return named(exporter, name)


def test_a_board_read_is_one_server_span_named_after_its_route(
    client: FlaskClient, spans: InMemorySpanExporter
) -> None:
    client.get("/healthz")  # starts the services: the fast handler answers from here on
    for query in ("", "?limit=5"):  # the fast handler, then the Flask view
        spans.clear()
        r = client.get(f"/api/v1/leaderboard{query}", headers={"X-Request-ID": "read-1"})
        assert r.status_code == 200
        span = one(spans, "GET /api/v1/leaderboard")
        assert span.kind is SpanKind.SERVER and span.parent is None
        assert {k: span.attributes[k] for k in ("http.request.method", "http.route", RID)} == {
            "http.request.method": "GET",
            "http.route": "/api/v1/leaderboard",
            RID: "read-1",
        }
        assert span.attributes["http.response.status_code"] == 200
        assert span.status.status_code is StatusCode.UNSET
        assert span.resource.attributes["service.name"] == "live-scoreboard"


def test_a_5xx_marks_the_span_an_error_and_no_route_names_it_by_method(
    app: Flask, client: FlaskClient, spans: InMemorySpanExporter
) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    app.view_functions["meta.healthz"] = crash
    assert client.get("/healthz").status_code == 500
    assert client.get("/nowhere").status_code == 404
    failed = one(spans, "GET /healthz")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["http.response.status_code"] == 500
    unrouted = one(spans, "GET")
    assert unrouted.attributes["http.response.status_code"] == 404 and "http.route" not in unrouted.attributes


def test_a_submit_s_steps_are_spans_within_its_request(
    client: FlaskClient, spans: InMemorySpanExporter, mode: str
) -> None:
    ann = Player(client)
    token = ann.action_token()
    spans.clear()
    r = ann.post("/api/v1/scores", {"action_token": token}, headers={"X-Request-ID": "submit-1"})
    assert r.status_code == 200, r.get_json()
    request = one(spans, "POST /api/v1/scores")
    steps = {name: one(spans, name) for name in ("gate", "database batch", "publish", "rank index")}
    for span in [request, *steps.values()]:
        assert span.context.trace_id == request.context.trace_id and span.attributes[RID] == "submit-1"
    for name in ("gate", "database batch", "publish"):
        assert steps[name].parent.span_id == request.context.span_id, name
    assert steps["rank index"].parent.span_id == steps["publish"].context.span_id
    assert steps["gate"].end_time <= steps["database batch"].start_time <= steps["publish"].start_time
    if mode == "production":  # PostgreSQL's group commit: a batch of one, led by this request
        batch = steps["database batch"].attributes
        assert (batch["scoreboard.batch.size"], batch["scoreboard.batch.led"]) == (1, True)


def test_a_traceparent_is_continued(client: FlaskClient, spans: InMemorySpanExporter) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client.get("/api/v1/leaderboard", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    span = one(spans, "GET /api/v1/leaderboard")
    assert span.context.trace_id == int(trace_id, 16)
    assert span.parent is not None and span.parent.is_remote and span.parent.span_id == int(parent_id, 16)


def test_a_broadcast_is_a_span_linked_to_the_submit_that_caused_it(
    client: FlaskClient, spans: InMemorySpanExporter, mode: str
) -> None:
    ann = Player(client)
    token = ann.action_token()
    viewer = client.get("/events/scoreboard", buffered=False)  # attached to the hub from here
    try:
        spans.clear()
        r = ann.post("/api/v1/scores", {"action_token": token}, headers={"X-Request-ID": "submit-2"})
        assert r.status_code == 200
        publish = one(spans, "publish")
        broadcast = wait_for(spans, "broadcast")[0]
    finally:
        viewer.close()
    assert broadcast.parent is None and broadcast.context.trace_id != publish.context.trace_id
    assert broadcast.attributes["scoreboard.stream"] == "main/all/all"
    assert broadcast.attributes["scoreboard.connections"] == 1
    links = [(link.context.span_id, link.attributes[RID]) for link in broadcast.links]
    if mode == "embedded":  # with Redis and threads, the listener may hear of the change first
        assert links == [(publish.context.span_id, "submit-2")]
    else:
        assert links in ([], [(publish.context.span_id, "submit-2")])


def test_a_batch_links_its_leader_with_the_requests_it_carried(spans: InMemorySpanExporter) -> None:
    held, release = threading.Event(), threading.Event()

    def run(items: list[str]) -> list[str]:
        if items == ["r0"]:  # the first batch waits while the others queue behind it
            held.set()
            release.wait(10)
        return items

    batcher: Batcher[str, str] = Batcher(run)

    def submit(rid: str) -> None:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/scores"}
        with tracing.serving(environ, rid), tracing.span("database batch"):
            batcher(rid)

    threads = [threading.Thread(target=submit, args=(f"r{i}",)) for i in range(3)]
    threads[0].start()
    assert held.wait(10)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(batcher._queue) < 2:  # both queued behind the running batch
        assert time.monotonic() < deadline
        threading.Event().wait(0.001)
    release.set()
    for t in threads:
        t.join(10)
    batches = {s.attributes[RID]: s for s in named(spans, "database batch")}
    first, r1, r2 = batches["r0"], batches["r1"], batches["r2"]
    assert (first.attributes["scoreboard.batch.size"], first.attributes["scoreboard.batch.led"]) == (1, True)
    assert not first.links
    assert r1.attributes["scoreboard.batch.size"] == r2.attributes["scoreboard.batch.size"] == 2
    leader, member = (r1, r2) if r1.attributes["scoreboard.batch.led"] else (r2, r1)
    assert member.attributes["scoreboard.batch.led"] is False
    assert [(lk.context.span_id, lk.attributes[RID]) for lk in leader.links] == [
        (member.context.span_id, member.attributes[RID])
    ]
    assert [(lk.context.span_id, lk.attributes[RID]) for lk in member.links] == [
        (leader.context.span_id, leader.attributes[RID])
    ]


# redis-py 8 imports OpenTelemetry's API and metrics SDK by itself when they are installed (its
# optional metrics support): the app must import nothing beyond that, and none of tracing.
OFF = """
import sys

def otel():
    return {m for m in sys.modules if m.split(".")[0] == "opentelemetry"}

import redis
by_redis = otel()
from app import create_app
from app.config import TestConfig
from tests.helpers import Player

app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=sys.argv[1], INSTANCE_PATH=sys.argv[2], REDIS_URL=""))
client = app.test_client()
ann = Player(client)
assert ann.submit(ann.action_token()).status_code == 200
assert client.get("/api/v1/leaderboard").status_code == 200
app.extensions["scoreboard"].stop()
TRACING = ("app.tracing.", "opentelemetry.sdk.trace", "opentelemetry.propagat", "opentelemetry.exporter")
tracing = [m for m in sys.modules if m.startswith(TRACING)]
print(sorted(otel() - by_redis), tracing)
"""


def test_without_an_endpoint_nothing_of_opentelemetry_is_imported(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = tmp_path / "off.db"
    db.write_bytes(sqlite_template.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", OFF, f"sqlite:///{db}", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[] []", out.stderr[-2000:]
