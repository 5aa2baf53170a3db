"""HTMX fragments: the board rows for polling, rendered from the same partial the pushes use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app

from app.api.leaderboard import conditional
from app.live.views import requested_live
from app.scoring.board import Entry

bp = Blueprint("fragments", __name__)


def board_renderer(app: Flask, oob: bool = True) -> Any:
    """Render the top-10 partial without a request (the broadcaster has none)."""
    template = app.jinja_env.get_template("scoreboard/_board.html")

    def render(entries: list[Entry], total: int, seq: int = 0, me: int | None = None) -> str:
        return template.render(entries=entries, total=total, seq=seq, me=me, oob=oob)

    return render


def score_renderer(app: Flask) -> Any:
    template = app.jinja_env.get_template("scoreboard/_score.html")
    return lambda data: template.render(s=data)


@bp.get("/fragments/leaderboard")
def leaderboard_fragment() -> Response:
    page = requested_live().board.page(10, 0)
    render = board_renderer(current_app, oob=False)
    response = conditional(
        page.etag,
        lambda: Response(
            render(page.data["leaderboard"], page.data["total_players"], page.seq), mimetype="text/html"
        ),
    )
    response.headers["Vary"] = "HX-Request"
    return response
