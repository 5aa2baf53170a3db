"""Edge cases of board reads (SPEC §6, §14), both run modes: a past period's `around`, a board's
current periods under a clock offset, and the document's token request for a board."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db
from tests.api.test_board_scores import BOARD, CUP, boss  # noqa: F401 (the fixture)
from tests.conftest import GENEROUS
from tests.helpers import Player, admin_player

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
    app: Flask,
    client: FlaskClient,
    boss: Player,  # noqa: F811
) -> None:
    """For a past period, `around` carries the same `last_updated` as the leaderboard: the time
    of the newest score in its standings."""
    ann = Player(client)
    _played_on(app, ann.id, 9, datetime(2026, 1, 5, 1, 2, 3, tzinfo=UTC))
    query = f"?period=daily&at={PAST_DAY}"
    top = client.get(f"{BOARD}/leaderboard{query}").get_json()
    around = client.get(f"{BOARD}/leaderboard/around/{ann.id}{query}").get_json()
    assert [e["user_id"] for e in top["leaderboard"]] == [e["user_id"] for e in around["leaderboard"]]
    assert top["last_updated"] == "2026-01-05T01:02:03.000Z"
    assert around["last_updated"] == top["last_updated"]


def test_a_boards_current_periods_are_those_its_reads_use(make_app: Any) -> None:
    """A board's detail names as current the period keys its leaderboard reads use, also when
    the clock is offset (CLOCK_OFFSET_SECONDS, for rehearsing a rollover)."""
    app = make_app(**GENEROUS, CLOCK_OFFSET_SECONDS=3 * 86400)
    client = app.test_client()
    admin = admin_player(app, client)
    assert admin.post("/api/v1/admin/boards", CUP).status_code == 201
    detail = client.get(BOARD).get_json()
    named = {c["period"]: c["period_key"] for c in detail["current"]}
    for period in ("daily", "weekly", "monthly"):
        read = client.get(f"{BOARD}/leaderboard?period={period}").get_json()
        assert named[period] == read["period_key"], (period, named[period], read["period_key"])


def test_the_document_accepts_a_token_request_for_a_boards_action(
    client: FlaskClient,
    boss: Player,  # noqa: F811
) -> None:
    """A token request for a board's own action type, which the server accepts, is valid
    against the document's ActionTokenIn (SPEC §6)."""
    import jsonschema

    ann = Player(client)
    body = {"action_type": "jump", "board": "cup"}
    assert ann.post("/api/v1/actions/token", body).status_code == 201
    spec = client.get("/api/v1/openapi.json").get_json()
    schema = {**spec["components"]["schemas"]["ActionTokenIn"], "components": spec["components"]}
    jsonschema.validate(body, schema)
