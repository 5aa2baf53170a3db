"""The admin page's submits per minute (GET /admin/activity) from every process: real gunicorn
gevent workers, each counting its own submits, every worker answering with all of them. Both run
modes (production: two workers, PostgreSQL and Redis; embedded: one worker, SQLite, no Redis)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import register
from tests.integration.test_oauth_server import browser_for


@pytest.fixture(params=["embedded", "production"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Gunicorn, str, int]:
    """A running server, its database URL and how many workers it has."""
    if request.param == "embedded":
        server = request.getfixturevalue("embedded_host")()
        return server, f"sqlite:///{tmp_path / 'instance' / 'scoreboard.db'}", 1
    server = request.getfixturevalue("hosts")(1, workers=2)[0]
    return server, request.getfixturevalue("pg_url"), 2


def promote(database_url: str, uid: int) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": uid})
    engine.dispose()


def totals(body: dict[str, Any]) -> tuple[int, int]:
    minutes = body["minutes"]
    assert len(minutes) == 60
    return sum(m["accepted"] for m in minutes), sum(m["rejected"] for m in minutes)


def test_every_workers_submits_show_up_on_every_worker(deployment: tuple[Gunicorn, str, int]) -> None:
    server, database_url, workers = deployment
    base = server.url
    boss, _ = register(base, "boss")
    promote(database_url, boss)
    _, token = register(base, "ann")
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(
        f"{base}/api/v1/actions/token", json={"action_type": "complete_task"}, headers=auth, timeout=10
    )
    assert r.status_code == 201, r.text
    action = r.json()["action_token"]

    # Each request on a new connection, so the kernel hands them to whichever worker accepts;
    # the pauses give a busy worker time to come back to accept().
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for _ in range(300):
        if len(accepted) >= workers and len(rejected) >= workers and accepted.total() >= 10:
            break
        r = requests.post(f"{base}/api/v1/scores", json={"action_token": action}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        accepted[r.headers["X-Served-By"]] += 1
        action = r.json()["data"]["next_action_token"]
        r = requests.post(f"{base}/api/v1/scores", json={"action_token": "garbage"}, headers=auth, timeout=10)
        assert r.status_code == 400, r.text
        rejected[r.headers["X-Served-By"]] += 1
        time.sleep(0.02)
    assert len(accepted) == len(rejected) == workers, (accepted, rejected, server.errors())
    want = (accepted.total(), rejected.total())

    browser = browser_for(base, "boss")
    answers: dict[str, tuple[int, int]] = {}

    def every_worker_has_all() -> bool:
        # A new connection each time, with the browser's session cookie: any worker may answer.
        r = requests.get(f"{base}/admin/activity", cookies=browser.cookies, timeout=10)
        assert r.status_code == 200, r.text[:300]
        answers[r.headers["X-Served-By"]] = totals(r.json())
        return len(answers) == workers and all(seen == want for seen in answers.values())

    wait_until(every_worker_has_all, what="every worker's submits on every worker", explain=lambda: answers)
    time.sleep(1.5)  # past another flush: nothing counted twice
    r = requests.get(f"{base}/admin/activity", cookies=browser.cookies, timeout=10)
    assert totals(r.json()) == want
