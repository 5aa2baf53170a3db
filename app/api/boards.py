"""Boards (SPEC §14): the public list and one board; the admin list, create and edit."""

from __future__ import annotations

from typing import cast

from flask import Response

from app.api import bp
from app.api.admin import admin
from app.api.context import body, json_response, origin
from app.api.responses import (
    ActionRule,
    AdminBoardList,
    BoardDetail,
    BoardList,
    BoardSummary,
    CurrentPeriod,
    Dated,
)
from app.api.schemas import BoardIn, BoardPatch
from app.boards.registry import BoardInfo, BoardRegistry, is_slug, rules
from app.errors import ScoreboardError
from app.models.types import utcnow
from app.scoring.board import iso
from app.services import services


def registry() -> BoardRegistry:
    """This app's board registry (`main` on its ACTION_CATALOG)."""
    return services().boards


def summary(board: BoardInfo) -> BoardSummary:
    return {
        "slug": board.slug,
        "title": board.title,
        "periods": cast(list[Dated], list(board.periods)),
        "timezone": board.timezone,
    }


def detail(boards: BoardRegistry, board: BoardInfo) -> BoardDetail:
    """A board with its public catalog and its current periods at the server's time."""
    current: list[CurrentPeriod] = [
        {
            "period": w.period.value,
            "period_key": w.key,
            "starts_at": iso(w.starts_at),
            "ends_at": iso(w.ends_at),
        }
        for w in board.current(utcnow()).values()
    ]
    catalog = cast(dict[str, ActionRule], rules(boards.catalog(board)))
    return {**summary(board), "catalog": catalog, "current": current}


def board_at(boards: BoardRegistry, slug: str) -> BoardInfo:
    """:raise ScoreboardError NOT_FOUND: no board has this slug (a malformed slug included)."""
    if not is_slug(slug):
        raise ScoreboardError("NOT_FOUND", "No such board: a slug is 1 to 32 of a-z, 0-9 and -.")
    return boards.get(slug)


@bp.get("/boards")
def boards_list() -> Response:
    out: BoardList = {"boards": [summary(b) for b in registry().list()]}
    return json_response(out)


@bp.get("/boards/<slug>")
def board_read(slug: str) -> Response:
    boards = registry()
    return json_response(detail(boards, board_at(boards, slug)))


@bp.get("/admin/boards")
def admin_boards() -> Response:
    admin()
    boards = registry()
    out: AdminBoardList = {"boards": [detail(boards, b) for b in boards.list()]}
    return json_response(out)


@bp.post("/admin/boards")
def admin_board_create() -> Response:
    who = admin()
    data = body(BoardIn)
    boards = registry()
    catalog = {name: rule.model_dump() for name, rule in data.catalog.items()}
    board = boards.create(who.user_id, origin(), data.slug, data.title, catalog, data.periods, data.timezone)
    return json_response(detail(boards, board), 201)


@bp.patch("/admin/boards/<slug>")
def admin_board_update(slug: str) -> Response:
    who = admin()
    boards = registry()
    board_at(boards, slug)
    data = body(BoardPatch)
    changes = data.model_dump(exclude_none=True)
    return json_response(detail(boards, boards.update(who.user_id, origin(), slug, changes)))
