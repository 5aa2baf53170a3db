"""/metrics describes the whole host, not the worker that happened to answer (SPEC §11): with two
gevent workers every scrape shows every worker's live connections and the sum of their request
counters, a worker killed outright stops counting in the connections gauge, and the counters do
not fall back when a worker is replaced (Prometheus' rate() would read that as a reset).

Real gunicorn (2 gevent workers, gunicorn.conf.py's multiprocess directory), PostgreSQL, Redis.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any

import requests

from tests.integration.conftest import wait_until
from tests.integration.test_live import sse_on_every_worker
from tests.integration.test_restarts import workers
from tests.live import LiveClient


def sample(text: str, name: str, **labels: str) -> float:
    """One series' value in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and ",".join(sorted(found.group(1).split(","))) == wanted:
            return float(found.group(2))
    return 0.0


def scrape(base: str) -> tuple[str, str]:
    r = requests.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200
    return r.text, r.headers["X-Served-By"]


def connections(text: str) -> tuple[float, float]:
    return (
        sample(text, "scoreboard_live_connections", transport="ws"),
        sample(text, "scoreboard_live_connections", transport="sse"),
    )


def reads(text: str) -> float:
    return sample(
        text, "scoreboard_http_requests_total", method="GET", endpoint="api.leaderboard", status="200"
    )


def test_every_scrape_sums_every_worker_and_survives_a_worker_dying(hosts: Any) -> None:
    (host,) = hosts(1)
    sse = sse_on_every_worker(host.url)
    ws = [LiveClient(host.url, "ws") for _ in range(3)]
    for c in [*sse, *ws]:
        c.wait_for(lambda m: m["type"] == "leaderboard_update")
    for _ in range(20):
        assert requests.get(f"{host.url}/api/v1/leaderboard", timeout=10).status_code == 200

    answered_by: set[str] = set()
    for _ in range(40):  # until both workers have answered a scrape; each one tells the same totals
        text, by = scrape(host.url)
        answered_by.add(by)
        assert connections(text) == (len(ws), len(sse)), (by, connections(text))
        assert reads(text) == 20
        if len(answered_by) == 2:
            break
    assert len(answered_by) == 2, "both workers answered a scrape"

    victim = min(workers(host))
    held = [c for c in sse if c.served_by.endswith(f":{victim}")]
    assert held, "the killed worker held SSE viewers"
    os.kill(victim, signal.SIGKILL)  # no goodbye: only the master's bookkeeping can forget it
    wait_until(lambda: victim not in workers(host) and len(workers(host)) == 2, what="the worker replaced")

    def left() -> tuple[int, int]:  # the viewers still connected (the victim's WebSockets see EOF)
        return sum(1 for c in ws if not c.closed.is_set()), len(sse) - len(held)

    wait_until(
        lambda: connections(scrape(host.url)[0]) == left(),
        what="the dead worker's connections no longer counted",
        explain=lambda: (connections(scrape(host.url)[0]), left()),
    )
    for _ in range(6):
        assert reads(scrape(host.url)[0]) >= 20, "a counter never falls back when a worker goes"
