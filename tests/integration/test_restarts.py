"""Deploys without dropping anyone (SPEC §16): a worker told to stop (SIGTERM, as a redeploy, a
dyno restart or gunicorn's HUP reload does) sends its live connections elsewhere at once, with
WebSocket close code 1012 or an SSE `reconnect` event carrying a random retry of 0.5-5 s, while
submits in flight finish: no 5xx, and every 200 is in the database exactly once.

Real gunicorn (2 gevent workers), PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any

import requests
from sqlalchemy import create_engine, text

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import register
from tests.live import LiveClient


def workers(host: Gunicorn) -> set[int]:
    assert host.proc is not None
    out = subprocess.run(["pgrep", "-P", str(host.proc.pid)], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


class Submitter(threading.Thread):
    """Players submitting back to back until told to stop; keeps every answer."""

    def __init__(self, base: str, tokens: list[str]):
        super().__init__(daemon=True)
        self.base, self.tokens = base, tokens
        self.statuses: list[int] = []
        self.accepted: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for token in self.tokens:
                auth = {"Authorization": f"Bearer {token}"}
                r = requests.post(
                    f"{self.base}/api/v1/actions/token",
                    json={"action_type": "complete_task"},
                    headers=auth,
                    timeout=10,
                )
                self.statuses.append(r.status_code)
                if r.status_code != 201:
                    continue
                r = requests.post(
                    f"{self.base}/api/v1/scores",
                    json={"action_token": r.json()["action_token"]},
                    headers=auth,
                    timeout=10,
                )
                self.statuses.append(r.status_code)
                if r.status_code == 200:
                    self.accepted.append(r.json()["data"]["action_id"])


def goodbyes(clients: list[LiveClient]) -> list[Any]:
    """How each client was sent away: a close code (WebSocket) or its reconnect event (SSE)."""
    out: list[Any] = []
    for c in clients:
        if c.transport == "ws":
            out.append(c.close_code if c.closed.is_set() else None)
        else:
            events = c.of_type("reconnect")
            out.append(events[0] if events else None)
    return out


def test_stopping_workers_send_viewers_elsewhere_and_lose_no_submit(hosts: Any, pg_url: str) -> None:
    (host,) = hosts(1)
    tokens = [register(host.url, f"runner{i}")[1] for i in range(4)]
    submitter = Submitter(host.url, tokens)
    submitter.start()
    viewers = [LiveClient(host.url, t) for t in ("ws", "sse") for _ in range(12)]
    for v in viewers:
        v.wait_for(lambda m: m["type"] == "leaderboard_update")
    first = workers(host)
    assert len(first) == 2

    victim = min(first)
    os.kill(victim, signal.SIGTERM)  # one worker, as a platform stopping one process would
    wait_until(lambda: any(g is not None for g in goodbyes(viewers)), what="viewers sent away")
    wait_until(lambda: victim not in workers(host) and len(workers(host)) == 2, what="the worker replaced")
    sent = [(v, g) for v, g in zip(viewers, goodbyes(viewers), strict=True) if g is not None]
    for v, g in sent:
        if v.transport == "ws":
            assert g == 1012, g
        else:
            assert 500 <= g["retry_ms"] <= 5000, g
    kept = [v for v, g in zip(viewers, goodbyes(viewers), strict=True) if g is None]
    assert kept, "the other worker's viewers stay connected"

    assert host.proc is not None
    os.kill(host.proc.pid, signal.SIGHUP)  # a graceful reload of every worker
    wait_until(
        lambda: all(g is not None for g in goodbyes(kept)), what="every viewer of the old workers sent away"
    )
    retries = {g["retry_ms"] for _, g in sent if isinstance(g, dict)} | {
        g["retry_ms"] for g in goodbyes(kept) if isinstance(g, dict)
    }
    assert len(retries) > 1, "each SSE client gets its own delay (a fleet does not come back at once)"
    wait_until(lambda: len(workers(host) - first) == 2, what="two new workers")

    back = [LiveClient(host.url, t) for t in ("ws", "sse")]  # coming back: the snapshot at once
    for c in back:
        c.wait_for(lambda m: m["type"] == "leaderboard_update")
    submitter.stop.set()
    submitter.join(timeout=20)
    assert submitter.accepted, "submits flowed during the restarts"
    assert all(s < 500 for s in submitter.statuses), sorted(set(submitter.statuses))
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT action_id FROM score_events WHERE source = 'action'"))]
    engine.dispose()
    assert sorted(ids) == sorted(submitter.accepted)  # every 200 is there, once
    final = requests.get(f"{host.url}/api/v1/leaderboard", timeout=10).json()
    wait_until(lambda: all((c.last_board() or {}).get("seq") == final["seq"] for c in back), what="converged")
