"""Boards (SPEC §14): the public list and one board; the admin list, create and edit."""

from __future__ import annotations

from typing import cast

from flask import Response

from app.api import bp
from app.api.admin import admin
from app.api.context import body, json_response, origin, principal
from app.api.leaderboard import conditional, rank_body
from app.api.queries import ID, BoardAroundQuery, BoardLeaderboardQuery, HistoryQuery, StreamQuery, query
from app.api.responses import (
    ActionRule,
    AdminBoardList,
    BoardDetail,
    BoardLeaderboard,
    BoardList,
    BoardRank,
    BoardSummary,
    CurrentPeriod,
    Dated,
    History,
)
from app.api.schemas import BoardIn, BoardPatch
from app.auth.principal import SCOPE_ADMIN
from app.boards import periods
from app.boards.registry import BoardInfo, BoardRegistry, is_slug, rules
from app.boards.stream import Stream
from app.errors import ScoreboardError
from app.scoring import history
from app.scoring.board import iso
from app.scoring.ranking import Standing
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
        for w in board.current(services().streams.now()).values()
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


def stream_at(slug: str, period: str | None, at: str | None) -> tuple[BoardInfo, Stream, bool]:
    """The (board, period, key) a read asks for, and whether the key is the current one.

    :raise ScoreboardError: NOT_FOUND (no such board), INVALID_REQUEST (a period the board does
        not keep, a future key).
    """
    streams = services().streams
    if not is_slug(slug):
        raise ScoreboardError("NOT_FOUND", "No such board: a slug is 1 to 32 of a-z, 0-9 and -.")
    info, stream = streams.stream(slug, period, at)
    return info, stream, streams.is_current(stream, streams.now())


def _labels(info: BoardInfo, stream: Stream) -> dict[str, object]:
    w = services().streams.window(info, stream)
    return {
        "board": stream.board,
        "period": stream.period.value,
        "period_key": stream.key,
        "starts_at": iso(w.starts_at),
        "ends_at": iso(w.ends_at),
    }


@bp.get("/boards/<slug>/leaderboard")
def board_leaderboard(slug: str) -> Response:
    args = query(BoardLeaderboardQuery)
    info, stream, current = stream_at(slug, args.period, args.at)
    streams = services().streams
    if current:
        page = streams.live(slug, stream.period).board.page(args.limit, args.offset)
        data, etag = page.data, page.etag
    else:
        data, etag = streams.past_page(info, stream, args.limit, args.offset)
    out = cast(BoardLeaderboard, {**data, **_labels(info, stream)})
    return conditional(etag, lambda: json_response(out))


def _standing(stream: Stream, current: bool, user_id: int) -> tuple[Standing, int]:
    """:raise ScoreboardError NOT_FOUND: the player is not ranked in this stream."""
    standing, total = services().streams.rank(stream, current, user_id)
    if standing is None:
        raise ScoreboardError("NOT_FOUND", f"Player {user_id} is not on this board in this period.")
    return standing, total


@bp.get(f"/boards/<slug>/leaderboard/around/<{ID}:user_id>")
def board_around(slug: str, user_id: int) -> Response:
    args = query(BoardAroundQuery)
    info, stream, current = stream_at(slug, args.period, args.at)
    streams = services().streams
    found = streams.around(stream, current, user_id, args.radius)
    if found is None:
        raise ScoreboardError("NOT_FOUND", f"Player {user_id} is not on this board in this period.")
    live = streams.live(slug, stream.period)
    out = cast(
        BoardLeaderboard,
        {
            **found,
            "last_updated": iso(live.board.last_updated if current else streams.newest(stream)),
            "seq": live.board.seq if current else 0,
            **_labels(info, stream),
        },
    )
    return json_response(out)


@bp.get(f"/boards/<slug>/users/<{ID}:user_id>/rank")
def board_user_rank(slug: str, user_id: int) -> Response:
    args = query(StreamQuery)
    _, stream, current = stream_at(slug, args.period, args.at)
    standing, total = _standing(stream, current, user_id)
    out: BoardRank = {
        **rank_body(standing, total),
        "board": stream.board,
        "period": stream.period.value,
        "period_key": stream.key,
    }
    return json_response(out)


@bp.get(f"/users/<{ID}:user_id>/history")
def user_history(user_id: int) -> Response:
    args = query(HistoryQuery)
    streams = services().streams
    if args.period == "all" or args.until is None:
        info, stream = streams.stream(args.board, args.period)
    else:  # the period that holds `until`
        info, stream = streams.stream(args.board, args.period)
        key = periods.key_at(stream.period, args.until, periods.zone(info.timezone))
        info, stream = streams.stream(args.board, args.period, key)
    who = principal(required=False)
    own = who is not None and (who.user_id == user_id or who.can(SCOPE_ADMIN))
    if not own:  # a player sees their own (hidden, say); admins anyone's (a banned cheater's)
        _standing(stream, streams.is_current(stream, streams.now()), user_id)  # else 404 unless shown
    tz = periods.zone(info.timezone)
    span = history.span(streams.window(info, stream), args.bucket, tz, streams.now(), args.since, args.until)
    with services().engine.connect() as conn:
        found = history.points(conn, user_id, stream.board, span)
    out: History = {"points": [{"at": iso(at), "score": score} for at, score in found]}
    return json_response(out)


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
