"""The admin API (SPEC §6): the review queue, players, moderation and the audit log."""

from __future__ import annotations

from datetime import datetime

from flask import Response, request

from app.admin import review
from app.api import bp
from app.api.context import body, int_arg, json_response, origin, principal
from app.api.schemas import AdjustIn, BanIn, ReasonIn, ResolveIn
from app.auth.principal import SCOPE_ADMIN, Principal
from app.errors import ScoreboardError
from app.scoring.moderation import Moderation
from app.scoring.writer import Placement
from app.services import services

FLAG_STATUSES = ("open", "cleared", "confirmed", "all")


def admin() -> Principal:
    """:raise ScoreboardError: UNAUTHORIZED (nobody), FORBIDDEN (not an admin token or session)."""
    who = principal()
    assert who is not None
    if not who.can(SCOPE_ADMIN):
        raise ScoreboardError("FORBIDDEN", "This needs an admin (scope admin).")
    return who


def paged(key: str, page: review.Page) -> Response:
    return json_response({key: page.items, "page": page.page, "pages": page.pages, "total": page.total})


def text_arg(name: str, limit: int = 64) -> str:
    """A free-text parameter, trimmed ("" when absent).

    :raise ScoreboardError INVALID_REQUEST: too long or not visible text.
    """
    raw = request.args.get(name, "").strip()
    if len(raw) > limit or not raw.isprintable():
        raise ScoreboardError(
            "INVALID_REQUEST", f"{name}: must be visible text of at most {limit} characters"
        )
    return raw


def time_arg(name: str) -> datetime | None:
    """An ISO 8601 time parameter (UTC when it names no zone).

    :raise ScoreboardError INVALID_REQUEST: not ISO 8601.
    """
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return review.parse_time(raw)
    except ValueError:
        raise ScoreboardError("INVALID_REQUEST", f"{name}: must be an ISO 8601 time") from None


@bp.get("/admin/flags")
def admin_flags() -> Response:
    admin()
    status = request.args.get("status", "open")
    if status not in FLAG_STATUSES:
        raise ScoreboardError("INVALID_REQUEST", f"status: must be one of {', '.join(FLAG_STATUSES)}")
    page = int_arg("page", 1, 1, 10**6)
    return paged("flags", review.flags(services().engine, None if status == "all" else status, page))


@bp.post("/admin/flags/<int:flag_id>/resolve")
def admin_resolve_flag(flag_id: int) -> Response:
    who = admin()
    data = body(ResolveIn)
    s = services()
    flag = review.resolve_flag(
        s.engine, s.moderation, who.user_id, flag_id, data.resolution, data.reason, origin()
    )
    return json_response(flag)


@bp.get("/admin/users")
def admin_users() -> Response:
    admin()
    q = text_arg("q")
    return paged("users", review.players(services().engine, q, int_arg("page", 1, 1, 10**6)))


@bp.get("/admin/users/<int:user_id>")
def admin_user(user_id: int) -> Response:
    admin()
    return json_response(review.player(services().engine, user_id))


def moderated(user_id: int, placement: Placement) -> Response:
    """The player after a moderation act, with their rank before and after."""
    return json_response(
        {
            "user": review.player(services().engine, user_id)["user"],
            "rank": placement.rank,
            "previous_rank": placement.previous_rank,
            "total_players": placement.total,
        }
    )


BODIES: dict[str, type[ReasonIn]] = {"ban": BanIn, "adjust": AdjustIn}


@bp.post("/admin/users/<int:user_id>/<act>")
def admin_moderate(user_id: int, act: str) -> Response:
    """ban, unban, hide, unhide, adjust, reset."""
    who = admin()
    if act not in Moderation.ACTS:
        raise ScoreboardError("NOT_FOUND", f"No moderation act {act!r}.")
    data = body(BODIES.get(act, ReasonIn))
    placement = services().moderation.act(
        act,
        who.user_id,
        user_id,
        data.reason,
        origin(),
        points=getattr(data, "points", 0),
        duration_seconds=getattr(data, "duration_seconds", None),
    )
    return moderated(user_id, placement)


@bp.get("/admin/audit")
def admin_audit() -> Response:
    admin()
    user_id = int_arg("user_id", 0, 1, 2**63 - 1) if request.args.get("user_id") else None
    event = text_arg("event") or None
    page = review.audit_log(
        services().engine,
        int_arg("page", 1, 1, 10**6),
        user_id=user_id,
        event=event,
        since=time_arg("since"),
        until=time_arg("until"),
    )
    return paged("entries", page)
