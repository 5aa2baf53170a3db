"""The leaderboard, a player's neighbourhood, a player's rank."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, request

from app.api import bp
from app.api.context import json_response
from app.api.queries import ID, AroundQuery, LeaderboardQuery, query
from app.api.responses import Rank
from app.boards.stream import MAIN_STREAM
from app.errors import ScoreboardError
from app.scoring.board import Leaderboard, iso
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
    args = query(LeaderboardQuery)
    page = services().board.page(args.limit, args.offset)
    return conditional(page.etag, lambda: Response(page.body, mimetype="application/json"))


def conditional(etag: str | None, build: Callable[[], Response]) -> Response:
    """304 when the client has this state already; the ETag (if any) and no-cache either way."""
    if etag is not None and request.if_none_match.contains(etag.strip('"')):
        response = Response(status=304)
    else:
        response = build()
    response.headers["Cache-Control"] = "no-cache"
    if etag is not None:
        response.headers["ETag"] = etag
    return response


@bp.get(f"/leaderboard/around/<{ID}:user_id>")
def around(user_id: int) -> Response:
    radius = query(AroundQuery).radius
    found = services().streams.around(MAIN_STREAM, True, user_id, radius)
    if found is None:
        raise ScoreboardError("NOT_FOUND", f"Player {user_id} is not on the leaderboard.")
    board = services().board
    body: Leaderboard = {
        **found,  # type: ignore[typeddict-item]
        "last_updated": iso(board.last_updated),
        "seq": board.seq,
    }
    return json_response(body)


@bp.get(f"/users/<{ID}:user_id>/rank")
def user_rank(user_id: int) -> Response:
    standing, total = standing_of(user_id)
    return json_response(rank_body(standing, total))


def rank_body(standing: Standing, total: int) -> Rank:
    entry = services().board.entries([standing])[0]
    return {
        "user_id": standing.user_id,
        "username": entry["username"],
        "score": standing.score,
        "rank": standing.rank,
        "percentile": percentile(standing.rank, total),
        "last_updated": entry["last_updated"],
    }
