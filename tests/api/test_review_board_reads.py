"""Review of the board reads (SPEC §14), both run modes: shapes the spec names that the change
does not give."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db
from tests.api.test_board_scores import BOARD, boss, jump  # noqa: F401 (the fixture)
from tests.helpers import Player

PAST_DAY = "2026-01-05"  # a Monday, long ended in Auckland


def _played_on(app: Flask, user_id: int, score: int, at: datetime) -> None:
    """A row of an ended day of the cup, as the ledger left it then."""
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO board_scores (board, period_key, user_id, period, score, score_updated_at,"
                " rank_version) VALUES ('cup', :k, :u, 'daily', :s, :at, 1)"
            ),
            {"k": PAST_DAY, "u": user_id, "s": score, "at": at},
        )
        db.session.commit()


def test_around_a_past_period_carries_the_same_last_updated_as_its_leaderboard(
    app: Flask, client: FlaskClient, boss: Player  # noqa: F811
) -> None:
    """`around` is "the same shape" as the leaderboard (SPEC §6, §14). For a past key the
    leaderboard says when its standings last changed (the newest score time); `around` answers
    null for the same frozen standings."""
    ann = Player(client)
    _played_on(app, ann.id, 9, datetime(2026, 1, 5, 1, 2, 3, tzinfo=UTC))
    query = f"?period=daily&at={PAST_DAY}"
    top = client.get(f"{BOARD}/leaderboard{query}").get_json()
    around = client.get(f"{BOARD}/leaderboard/around/{ann.id}{query}").get_json()
    assert [e["user_id"] for e in top["leaderboard"]] == [e["user_id"] for e in around["leaderboard"]]
    assert top["last_updated"] == "2026-01-05T01:02:03.000Z"
    assert around["last_updated"] == top["last_updated"]


def test_a_players_history_on_a_board(client: FlaskClient, boss: Player) -> None:  # noqa: F811
    """SPEC §14: `GET /api/v1/users/{user_id}/history?board=&period=&bucket=&from&until` →
    `{points: [{at, score}]}` (the score at the end of each bucket). Not built: 404."""
    ann = Player(client)
    jump(ann, 2)
    r = client.get(f"/api/v1/users/{ann.id}/history?board=cup&period=all&bucket=hour")
    assert r.status_code == 200, (r.status_code, r.get_json())
    points = r.get_json()["points"]
    assert points and points[-1]["score"] == 6
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/users/{user_id}/history" in spec["paths"]
