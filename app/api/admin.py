"""The admin API (SPEC §6): the review queue, players, moderation and the audit log."""

from __future__ import annotations

from flask import Response

from app.admin import review
from app.api import bp
from app.api.context import body, json_response, origin, principal
from app.api.queries import ID, AuditQuery, FlagsQuery, UsersQuery, query
from app.api.responses import Moderated
from app.api.schemas import AdjustIn, BanIn, BoardReasonIn, ReasonIn, ResolveIn
from app.auth.principal import SCOPE_ADMIN, Principal
from app.errors import ScoreboardError
from app.models.boards import MAIN
from app.scoring.moderation import Moderation
from app.scoring.writer import Placement
from app.services import services


def admin() -> Principal:
    """:raise ScoreboardError: UNAUTHORIZED (nobody), FORBIDDEN (not an admin token or session)."""
    who = principal()
    assert who is not None
    if not who.can(SCOPE_ADMIN):
        raise ScoreboardError("FORBIDDEN", "This needs an admin (scope admin).")
    return who


@bp.get("/admin/flags")
def admin_flags() -> Response:
    admin()
    args = query(FlagsQuery)
    p = review.flags(services().engine, None if args.status == "all" else args.status, args.page)
    body: review.FlagPage = {"flags": p.items, "page": p.page, "pages": p.pages, "total": p.total}
    return json_response(body)


@bp.post(f"/admin/flags/<{ID}:flag_id>/resolve")
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
    args = query(UsersQuery)
    p = review.players(services().engine, args.q.strip(), args.page)
    body: review.UserPage = {"users": p.items, "page": p.page, "pages": p.pages, "total": p.total}
    return json_response(body)


@bp.get(f"/admin/users/<{ID}:user_id>")
def admin_user(user_id: int) -> Response:
    admin()
    return json_response(review.player(services().engine, user_id))


def moderated(user_id: int, placement: Placement) -> Response:
    """The player after a moderation act, with their rank before and after."""
    body: Moderated = {
        "user": review.player(services().engine, user_id)["user"],
        "rank": placement.rank,
        "previous_rank": placement.previous_rank,
        "total_players": placement.total,
    }
    return json_response(body)


BODIES: dict[str, type[ReasonIn]] = {"ban": BanIn, "adjust": AdjustIn, "reset": BoardReasonIn}


@bp.post(f"/admin/users/<{ID}:user_id>/<act>")
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
        board=getattr(data, "board", MAIN),
    )
    return moderated(user_id, placement)


@bp.get("/admin/audit")
def admin_audit() -> Response:
    admin()
    args = query(AuditQuery)
    p = review.audit_log(
        services().engine,
        args.page,
        user_id=args.user_id,
        event=args.event.strip() or None,
        since=args.since,
        until=args.until,
    )
    body: review.AuditPage = {"entries": p.items, "page": p.page, "pages": p.pages, "total": p.total}
    return json_response(body)
