"""Reading the board three ways: the database query, the Redis index, the API."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db

ORDER = text(
    "SELECT id, score FROM users WHERE score_updated_at IS NOT NULL AND NOT is_banned "
    "AND NOT is_hidden ORDER BY score DESC, score_updated_at ASC, id ASC"
)


def db_board(app: Flask) -> list[tuple[int, int]]:
    """(user id, score) in rank order, straight from SQL written here, not the app's."""
    with app.app_context():
        return [(r[0], r[1]) for r in db.session.execute(ORDER)]


def db_seq(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT seq FROM board_state")).scalar_one()


def index_board(app: Flask) -> list[tuple[int, int]] | None:
    """The Redis rank index in rank order (None in the embedded mode)."""
    index = app.extensions["scoreboard"].standings.index
    if index is None:
        return None
    standings, _ = index.top(10_000)
    return [(s.user_id, s.score) for s in standings]


def api_board(client: FlaskClient, app: Flask, limit: int = 100) -> dict[str, Any]:
    """GET /api/v1/leaderboard once this process has seen every change (events are async)."""
    want = db_seq(app)
    deadline = time.monotonic() + 10
    while True:
        body = client.get(f"/api/v1/leaderboard?limit={limit}").get_json()
        if body["seq"] >= want or time.monotonic() > deadline:
            return body
        time.sleep(0.01)
