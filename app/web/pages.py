"""Pages: the scoreboard, sign-in and registration, the account, and the embeddable widget."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.api.context import origin
from app.api.leaderboard import percentile
from app.api.openapi import document
from app.auth.accounts import authenticate, create_user
from app.auth.privacy import erase_user, export_user
from app.auth.session import sign_in, sign_out
from app.boards.periods import Period
from app.boards.registry import BoardInfo, is_slug
from app.boards.streams import Live
from app.errors import ScoreboardError
from app.extensions import db
from app.models.boards import MAIN
from app.services import services
from app.web.external import connections
from app.web.forms import AccountForm, DeleteForm, EmptyForm, LoginForm, RegisterForm

bp = Blueprint("web", __name__)

PERIOD_LABELS = {Period.ALL: "All time", Period.DAILY: "Today", Period.WEEKLY: "This week",
                 Period.MONTHLY: "This month"}  # fmt: skip


def _board(live: Live, limit: int = 10) -> dict[str, Any]:
    page = live.board.page(limit, 0)
    return {"entries": page.data["leaderboard"], "total": page.data["total_players"], "seq": page.seq}


def _standing(live: Live) -> dict[str, Any] | None:
    """The signed-in player's score, rank and percentile in the stream shown."""
    if not current_user.is_authenticated:
        return None
    streams = services().streams
    standing, total = streams.rank(live.stream, True, current_user.id)
    score = current_user.score if live.stream.is_main else streams.score_of(live.stream, current_user.id)
    return {
        "score": score,
        "rank": standing.rank if standing else None,
        "percentile": percentile(standing.rank, total) if standing else None,
        "hidden": current_user.is_hidden,
    }


def _tabs(info: BoardInfo, live: Live, endpoint: str, **args: Any) -> list[dict[str, Any]]:
    """One link per period the board keeps (none when it keeps only all-time)."""
    if not info.periods:
        return []
    return [
        {"label": PERIOD_LABELS[period], "href": url_for(endpoint, **args, period=period.value),
         "current": period is live.period}
        for period in info.kept
    ]  # fmt: skip


def _live_query(live: Live, **extra: Any) -> str:
    """The query string of the live URLs (none for main's all-time board, as before boards)."""
    args = {} if live.stream.is_main else {"board": live.board_slug, "period": live.period.value}
    return urlencode({**extra, **args})


def _show(slug: str) -> tuple[BoardInfo, Live]:
    """The board and period a page asks for (`?period=`).

    :raise ScoreboardError: NOT_FOUND (no such board), INVALID_REQUEST (a period it does not keep).
    """
    streams = services().streams
    info, stream = streams.stream(slug, request.args.get("period"))
    return info, streams.live(slug, stream.period)


def _scoreboard(slug: str) -> str:
    db.session.commit()  # release the connection before the domain reads
    info, live = _show(slug)
    actions = [a.type for a in services().scorer.catalog_of(slug)]
    endpoint, args = ("web.index", {}) if slug == MAIN else ("web.board_page", {"slug": slug})
    return render_template(
        "scoreboard/index.html",
        info=info,
        live=live,
        tabs=_tabs(info, live, endpoint, **args),
        live_query=_live_query(live, format="html"),
        poll_query=_live_query(live),
        board=_board(live),
        me=_standing(live),
        action_type=actions[0] if actions else None,
        logout_form=EmptyForm(),
    )


@bp.get("/")
def index() -> str:
    return _scoreboard(MAIN)


@bp.get("/boards/<slug>")
def board_page(slug: str) -> str:
    if not is_slug(slug):
        raise ScoreboardError("NOT_FOUND", "No such board.")
    return _scoreboard(slug)


@bp.get("/widget")
def widget() -> str:
    try:
        limit = min(max(int(request.args.get("limit", 10)), 1), 10)
    except ValueError:
        limit = 10
    theme = request.args.get("theme", "light")
    theme = theme if theme in ("light", "dark") else "light"
    slug = request.args.get("board", MAIN)
    if not is_slug(slug):
        raise ScoreboardError("NOT_FOUND", "No such board.")
    info, live = _show(slug)
    keep = {"limit": limit, "theme": theme} | ({"board": slug} if slug != MAIN else {})
    return render_template(
        "widget.html",
        info=info,
        tabs=_tabs(info, live, "web.widget", **keep),
        live_query=_live_query(live, format="html"),
        poll_query=_live_query(live),
        board=_board(live, limit),
        limit=limit,
        theme=theme,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        c = current_app.config
        try:
            user = authenticate(
                db.session,
                form.username.data,
                form.password.data,
                origin=origin(),
                limits=services().limits,
                failures_limit=c["RATELIMIT_LOGIN_FAILURES"],
                enabled=c["RATELIMIT_ENABLED"],
            )
        except ScoreboardError as err:
            wait = f" Try again in {err.retry_after} s." if err.retry_after else ""
            form.form_errors.append(err.message + wait)
            return render_template("auth/login.html", form=form), err.status
        db.session.commit()
        sign_in(user)
        return redirect(_next_url())
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                db.session,
                form.username.data,
                form.email.data or None,
                form.password.data,
                hash_method=current_app.config["PASSWORD_HASH_METHOD"],
                origin=origin(),
                rules=services().rules,
            )
        except ScoreboardError as err:
            db.session.rollback()
            form.form_errors.append(err.message)
            return render_template("auth/register.html", form=form), err.status
        db.session.commit()
        sign_in(user)
        flash("Welcome! Press the button to score your first points.")
        return redirect(url_for("web.index"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
def logout() -> Any:
    if EmptyForm().validate_on_submit():
        sign_out()
    return redirect(url_for("web.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Any:
    form = AccountForm(obj=current_user)
    if form.validate_on_submit():
        moderation, uid = services().moderation, current_user.id
        name = " ".join(form.display_name.data.split())
        db.session.commit()
        if name != current_user.display_name:
            moderation.rename(uid, name, origin())
        if form.is_hidden.data != current_user.is_hidden:
            moderation.set_hidden(uid, uid, form.is_hidden.data, "player privacy choice", origin())
        flash("Saved.")
        return redirect(url_for("web.account"))
    return render_template(
        "account/index.html",
        charts=True,
        form=form,
        delete_form=DeleteForm(),
        me=_standing(services().streams.main),
        connections=connections(),
        has_password=bool(current_user.password_hash),
        connect_form=EmptyForm(),
    ), 400 if form.errors else 200


@bp.get("/account/export")
@login_required
def account_export() -> Response:
    data = export_user(services().engine, current_user.id)
    headers = {"Content-Disposition": f'attachment; filename="scoreboard-{current_user.username}.json"'}
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), mimetype="application/json", headers=headers
    )


@bp.post("/account/delete")
@login_required
def account_delete() -> Any:
    form = DeleteForm()
    if not form.validate_on_submit() or form.confirm.data != current_user.username:
        flash("Type your username exactly to delete your account.", "error")
        return redirect(url_for("web.account"))
    uid = current_user.id
    db.session.commit()
    erase_user(services().moderation, uid)
    sign_out()
    flash("Your account and personal data are deleted.")
    return redirect(url_for("web.index"))


def _next_url() -> str:
    target = request.args.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.index")


@bp.get("/api/docs")
def api_docs() -> str:
    """The OpenAPI document as a page."""
    return render_template("api_docs.html", doc=document())
