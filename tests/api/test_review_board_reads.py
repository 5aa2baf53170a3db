"""Review of the board reads (SPEC §14), both run modes: shapes the spec names that the change
does not give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db
from tests.api.test_board_scores import BOARD, CUP, boss, jump  # noqa: F401 (the fixture)
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


def test_a_boards_current_periods_are_those_its_reads_use(make_app: Any) -> None:
    """`GET /api/v1/boards/{slug}` names the current period keys; the reads and the scoring use
    the domain clock (CLOCK_OFFSET_SECONDS, for rehearsing a rollover), but the board's detail
    reads the system clock, so during a rehearsal the two disagree on what is current."""
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
    """SPEC §6: the OpenAPI document states "the constraints the server enforces". The server
    issues a token for `{"action_type": "jump", "board": "cup"}` (the cup's catalog), but the
    document's ActionTokenIn still pins `action_type` to an enum of main's catalog, so a client
    that validates against it cannot score on any other board (and schemathesis' contract runs,
    tests/integration/test_api_contract.py, now fail: a main action type with another board is a
    schema-valid request the server refuses)."""
    import jsonschema

    ann = Player(client)
    body = {"action_type": "jump", "board": "cup"}
    assert ann.post("/api/v1/actions/token", body).status_code == 201
    spec = client.get("/api/v1/openapi.json").get_json()
    schema = {**spec["components"]["schemas"]["ActionTokenIn"], "components": spec["components"]}
    jsonschema.validate(body, schema)
