"""HTMX fragments: the board rows for polling, rendered from the same partial the pushes use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from app.services import services

bp = Blueprint("fragments", __name__)


def board_renderer(app: Flask, oob: bool = True) -> Any:
    """Render the top-10 partial without a request (the broadcaster has none)."""
    template = app.jinja_env.get_template("scoreboard/_board.html")

    def render(entries: list[dict[str, Any]], total: int, seq: int = 0, me: int | None = None) -> str:
        return template.render(entries=entries, total=total, seq=seq, me=me, oob=oob)

    return render


def score_renderer(app: Flask) -> Any:
    template = app.jinja_env.get_template("scoreboard/_score.html")
    return lambda data: template.render(s=data)


@bp.get("/fragments/leaderboard")
def leaderboard_fragment() -> Response:
    page = services().board.page(10, 0)
    headers = {"ETag": page.etag, "Cache-Control": "no-cache", "Vary": "HX-Request"}
    if request.if_none_match.contains(page.etag.strip('"')):
        return Response(status=304, headers=headers)
    html = board_renderer(current_app, oob=False)(
        page.data["leaderboard"], page.data["total_players"], page.seq
    )
    return Response(html, mimetype="text/html", headers=headers)
