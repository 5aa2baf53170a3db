"""What the Prometheus series cost a request, one process alone against gunicorn's multiprocess mode,
and what tracing costs a submit when it is off.

    .venv/bin/python bench/metrics_cost.py            # prints JSON: µs per request

A submit's request touches the metrics exactly as `record()` and `record_submission()` do in
app/telemetry.py: one request counter, one latency histogram (its sum and a bucket) and one
submission counter. Each way runs in a fresh interpreter (the mode is chosen when
prometheus_client is imported), the multiprocess one writing into a scratch directory as the
workers do under gunicorn.conf.py. With no OTLP endpoint set, a submit enters the request's
server span, its four step spans and the batch's links (app/tracing), each a shared null
context: measured the same way. bench/run.py prints both beside the worker CPU per update.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = 100_000

_LOOP = f"""
import json, time
from app.telemetry import record, record_submission

class Counts:
    def count(self, accepted):
        pass

counts = Counts()
best = None
for _ in range(3):
    started = time.process_time()
    for _ in range({CALLS}):
        record("POST", "api.submit_score", 200, time.perf_counter())
        record_submission(None, counts)
    took = time.process_time() - started
    best = took if best is None else min(best, took)
print(json.dumps(best / {CALLS} * 1e6))
"""


_TRACING_OFF = f"""
import json, sys, time
from app import tracing

environ = {{}}
best = None
for _ in range(3):
    started = time.process_time()
    for _ in range({CALLS}):
        with tracing.serving(environ, "request-id"):
            with tracing.span("gate"):
                pass
            caller = tracing.current()
            with tracing.span("database batch"):
                tracing.batched([caller])
            with tracing.span("publish"), tracing.span("rank index"):
                pass
            tracing.answered(environ, "/api/v1/scores", 200)
    took = time.process_time() - started
    best = took if best is None else min(best, took)
assert not [m for m in sys.modules if m.startswith("opentelemetry.sdk")]
print(json.dumps(best / {CALLS} * 1e6))
"""


def per_call_us(loop: str, multiprocess: bool = False) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR" and k[:5] != "OTEL_"}
    with tempfile.TemporaryDirectory(prefix="metrics-cost-") as scratch:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = scratch
        out = subprocess.run(
            [sys.executable, "-c", loop], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
    return float(out.stdout.strip())


def measure() -> dict[str, float]:
    """µs of CPU (best of 3 × 100,000): the metrics per request both ways, tracing off per submit."""
    single, multi = per_call_us(_LOOP), per_call_us(_LOOP, multiprocess=True)
    return {
        "one_process_us": single,
        "multiprocess_us": multi,
        "added_us": multi - single,
        "tracing_off_us": per_call_us(_TRACING_OFF),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
