"""Pages: the scoreboard, sign-in and registration, the account, and the embeddable widget."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.api.context import origin
from app.api.leaderboard import percentile
from app.api.openapi import document
from app.auth.accounts import authenticate, create_user
from app.auth.privacy import erase_user, export_user
from app.auth.session import sign_in, sign_out
from app.errors import ScoreboardError
from app.extensions import db
from app.services import services
from app.web.external import connections
from app.web.forms import AccountForm, DeleteForm, EmptyForm, LoginForm, RegisterForm

bp = Blueprint("web", __name__)


def _board(limit: int = 10) -> dict[str, Any]:
    page = services().board.page(limit, 0)
    return {"entries": page.data["leaderboard"], "total": page.data["total_players"], "seq": page.seq}


def _standing() -> dict[str, Any] | None:
    """The signed-in player's score, rank and percentile."""
    if not current_user.is_authenticated:
        return None
    standing, total = services().standings.rank(current_user.id)
    return {
        "score": current_user.score,
        "rank": standing.rank if standing else None,
        "percentile": percentile(standing.rank, total) if standing else None,
        "hidden": current_user.is_hidden,
    }


@bp.get("/")
def index() -> str:
    db.session.commit()  # release the connection before the domain reads
    actions = [a.type for a in services().catalog]
    return render_template(
        "scoreboard/index.html",
        board=_board(),
        me=_standing(),
        action_type=actions[0],
        logout_form=EmptyForm(),
    )


@bp.get("/widget")
def widget() -> str:
    try:
        limit = min(max(int(request.args.get("limit", 10)), 1), 10)
    except ValueError:
        limit = 10
    theme = request.args.get("theme", "light")
    theme = theme if theme in ("light", "dark") else "light"
    return render_template("widget.html", board=_board(limit), limit=limit, theme=theme)


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
        form=form,
        delete_form=DeleteForm(),
        me=_standing(),
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
