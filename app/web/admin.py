"""The moderation page (/admin): review queue, player search and detail, moderation, audit log.

The same domain functions as the admin API; forms post back and redirect (CSRF-protected), the
live counts refresh themselves with HTMX.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.admin import activity as per_minute
from app.admin import review
from app.api.context import origin
from app.errors import ScoreboardError
from app.extensions import db
from app.scoring.moderation import Moderation
from app.services import services
from app.web.forms import AdjustForm, BanForm, ReasonForm, ResolveForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

ACTS: dict[str, type[ReasonForm]] = {
    **dict.fromkeys(Moderation.ACTS, ReasonForm),
    "ban": BanForm,
    "adjust": AdjustForm,
}


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403, "Only admins can moderate.")
        db.session.commit()  # release the connection before the domain takes its own
        return view(*args, **kwargs)

    return wrapped


def _page_arg() -> int:
    try:
        return min(max(int(request.args.get("page", 1)), 1), 10**6)
    except ValueError:
        return 1


@bp.get("")
@admin_required
def index() -> str:
    engine = services().engine
    return render_template(
        "admin/index.html",
        charts=True,
        flags=review.flags(engine, "open", _page_arg()),
        audit=review.audit_log(engine, 1).items[:20],
        counts=_counts(),
        resolve_form=ResolveForm(),
    )


@bp.get("/counts")
@admin_required
def counts() -> str:
    return render_template("admin/_counts.html", counts=_counts())


@bp.get("/activity")
@admin_required
def activity() -> Response:
    """Accepted and rejected submits per minute over the last hour, from every process, oldest
    first (the running minute last)."""
    response = jsonify(per_minute.as_json(services().activity.minutes(60)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _counts() -> dict[str, int]:
    s = services()
    return {"connections": s.presence.total(), **review.activity(s.engine)}


@bp.get("/users")
@admin_required
def users() -> str:
    q = " ".join(request.args.get("q", "").split())[:64]
    found = review.players(services().engine, q if q.isprintable() else "", _page_arg())
    return render_template("admin/users.html", q=q, found=found)


@bp.get("/users/<int:user_id>")
@admin_required
def user(user_id: int) -> Any:
    try:
        detail = review.player(services().engine, user_id)
    except ScoreboardError:
        abort(404, f"No player with id {user_id}.")
    forms = {act: form(prefix=act) for act, form in ACTS.items()}
    return render_template("admin/user.html", d=detail, forms=forms, resolve_form=ResolveForm(), charts=True)


@bp.post("/users/<int:user_id>/<act>")
@admin_required
def moderate(user_id: int, act: str) -> Any:
    if act not in ACTS:
        abort(404)
    form = ACTS[act](prefix=act)
    if not form.validate_on_submit():
        flash(_first_error(form), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    reason = " ".join(form.reason.data.split())
    if not reason.isprintable():
        flash("Reason: must be visible text.", "error")
        return redirect(url_for("admin.user", user_id=user_id))
    try:
        placement = services().moderation.act(
            act,
            current_user.id,
            user_id,
            reason,
            origin(),
            points=form.points.data if act == "adjust" else 0,
            duration_seconds=form.minutes.data * 60 if act == "ban" and form.minutes.data else None,
        )
    except ScoreboardError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.users"))
    rank = f"rank #{placement.rank}" if placement.rank else "not on the board"
    flash(f"Done: {act}. The player is now {rank}.")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/flags/<int:flag_id>/resolve")
@admin_required
def resolve(flag_id: int) -> Any:
    form = ResolveForm()
    back = request.form.get("back") or url_for("admin.index")
    if not back.startswith("/admin"):
        back = url_for("admin.index")
    if not form.validate_on_submit():
        flash(_first_error(form), "error")
        return redirect(back)
    reason = " ".join(form.reason.data.split())
    if not reason.isprintable():
        flash("Reason: must be visible text.", "error")
        return redirect(back)
    s = services()
    try:
        flag = review.resolve_flag(
            s.engine, s.moderation, current_user.id, flag_id, form.resolution.data, reason, origin()
        )
    except ScoreboardError as err:
        flash(err.message, "error")
        return redirect(back)
    flash(f"Flag {flag_id} ({flag['rule']}, {flag['username']}): {flag['status']}.")
    return redirect(back)


@bp.get("/audit")
@admin_required
def audit() -> str:
    args = request.args
    user_id = int(args["user_id"]) if args.get("user_id", "").isdigit() else None
    event = args.get("event", "").strip()[:64]
    since, until = _time(args.get("since")), _time(args.get("until"))
    entries = review.audit_log(
        services().engine,
        _page_arg(),
        user_id=user_id,
        event=event if event.isprintable() and event else None,
        since=since,
        until=until,
    )
    return render_template("admin/audit.html", entries=entries, args=args)


def _time(raw: str | None) -> datetime | None:
    try:
        return review.parse_time(raw) if raw else None
    except ValueError:
        flash(f"Not a time: {raw!r} (use e.g. 2026-12-01T10:00).", "error")
        return None


def _first_error(form: Any) -> str:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        return f"{label}: {errors[0]}"
    return "Please check the form."


from app.web import admin_boards  # noqa: E402, F401  (the boards page: its routes join this blueprint)
