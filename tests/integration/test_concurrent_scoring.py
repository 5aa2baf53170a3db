"""Many players at once through real gunicorn gevent workers: nothing lost, nothing doubled."""

from __future__ import annotations

import threading

import psycopg
import requests

from tests.integration.conftest import Gunicorn

PLAYERS = 24
ACTIONS = 15


def play(base: str, name: str, accepted: list[int], errors: list[str]) -> None:
    with requests.Session() as http:
        r = http.post(
            f"{base}/api/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "password123"},
        )
        if r.status_code != 201:
            errors.append(r.text)
            return
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        token = http.post(f"{base}/api/v1/actions/token", json={"action_type": "complete_task"}).json()
        token = token["action_token"]
        for _ in range(ACTIONS):
            r = http.post(f"{base}/api/v1/scores", json={"action_token": token})
            if r.status_code != 200:
                errors.append(r.text)
                return
            data = r.json()["data"]
            accepted.append(data["points"])
            replay = http.post(f"{base}/api/v1/scores", json={"action_token": token})
            if replay.status_code == 200:  # a used token must never count twice
                accepted.append(replay.json()["data"]["points"])
            token = data["next_action_token"]


def test_accepted_points_equal_scores_equal_events(gunicorn_app: Gunicorn, pg_url: str) -> None:
    accepted: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=play, args=(gunicorn_app.url, f"player{i}", accepted, errors))
        for i in range(PLAYERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], gunicorn_app.errors()
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        scores = conn.execute("SELECT sum(score) FROM users").fetchone()[0]
        events, points = conn.execute("SELECT count(*), sum(points) FROM score_events").fetchone()
    assert sum(accepted) == scores == points
    assert len(accepted) == events
    assert events >= PLAYERS * ACTIONS
    board = requests.get(f"{gunicorn_app.url}/api/v1/leaderboard?limit=100", timeout=10).json()
    assert board["total_players"] == PLAYERS
    assert sum(e["score"] for e in board["leaderboard"]) == scores
