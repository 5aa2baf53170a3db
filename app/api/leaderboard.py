"""The leaderboard, a player's neighbourhood, a player's rank."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.api import bp
from app.api.context import int_arg, json_response
from app.errors import ScoreboardError
from app.scoring.board import iso
from app.scoring.ranking import Standing
from app.services import services


def percentile(rank: int, total: int) -> float:
    """Share of ranked players at or below this rank, 0–100, one decimal."""
    return round((total - rank + 1) / total * 100, 1) if total else 0.0


def standing_of(user_id: int) -> tuple[Standing, int]:
    """:raise ScoreboardError NOT_FOUND: the player is not ranked."""
    standing, total = services().standings.rank(user_id)
    if standing is None:
        raise ScoreboardError("NOT_FOUND", f"Player {user_id} is not on the leaderboard.")
    return standing, total


@bp.get("/leaderboard")
def leaderboard() -> Response:
    limit = int_arg("limit", 10, 1, 100)
    offset = int_arg("offset", 0, 0, 10**9)
    page = services().board.page(limit, offset)
    return conditional(page.etag, lambda: Response(page.body, mimetype="application/json"))


def conditional(etag: str | None, build: Any) -> Response:
    """304 when the client has this state already; the ETag (if any) and no-cache either way."""
    if etag is not None and request.if_none_match.contains(etag.strip('"')):
        response = Response(status=304)
    else:
        response = build()
    response.headers["Cache-Control"] = "no-cache"
    if etag is not None:
        response.headers["ETag"] = etag
    return response


@bp.get("/leaderboard/around/<int:user_id>")
def around(user_id: int) -> Response:
    radius = int_arg("radius", 5, 0, 50)
    standing, _ = standing_of(user_id)
    board = services().board
    start = max(standing.rank - 1 - radius, 0)
    standings, total = services().standings.top(standing.rank - start + radius, start)
    return json_response(
        {
            "leaderboard": board.entries(standings),
            "total_players": total,
            "last_updated": iso(board.last_updated),
            "seq": board.seq,
        }
    )


@bp.get("/users/<int:user_id>/rank")
def user_rank(user_id: int) -> Response:
    standing, total = standing_of(user_id)
    return json_response(rank_body(standing, total))


def rank_body(standing: Standing, total: int) -> dict[str, Any]:
    entry = services().board.entries([standing])[0]
    return {
        "user_id": standing.user_id,
        "username": entry["username"],
        "score": standing.score,
        "rank": standing.rank,
        "percentile": percentile(standing.rank, total),
        "last_updated": entry["last_updated"],
    }
