"""The boards page (/admin/boards): list, create and edit boards, copy each one's embed snippet.

The same registry as the admin API and the CLI; forms post back and redirect (CSRF-protected).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import escape
from werkzeug.wrappers import Response

from app.api.boards import registry
from app.api.context import origin
from app.boards.registry import BoardInfo, is_slug
from app.errors import ScoreboardError
from app.models.boards import MAIN
from app.web.admin import _first_error, admin_required, bp
from app.web.forms import BoardForm, NewBoardForm


def snippet(board: BoardInfo) -> str:
    """The widget's embed code for a board, on this request's host."""
    query = urlencode({"board": board.slug, "period": "all", "limit": 10, "theme": "light"})
    src = f"https://{request.host}/widget?{query}"
    return (
        f'<iframe src="{escape(src)}" title="{escape(board.title)}" width="360" height="480" '
        'style="border:0" loading="lazy"></iframe>'
    )


def edit_form(board: BoardInfo) -> BoardForm:
    """A board's edit form, filled with its settings (its catalog as JSON; none for main)."""
    form = BoardForm(prefix=board.slug, formdata=None)
    form.title.data, form.timezone.data = board.title, board.timezone
    for period in board.periods:
        getattr(form, period).data = True
    form.catalog.data = "" if board.catalog is None else json.dumps(board.catalog, indent=2)
    return form


@bp.get("/boards")
@admin_required
def boards() -> str:
    found = registry().list()
    return render_template(
        "admin/boards.html",
        boards=[(b, edit_form(b), snippet(b)) for b in found],
        new=NewBoardForm(prefix="new", formdata=None),
        main=MAIN,
    )


@bp.post("/boards")
@admin_required
def board_create() -> Response:
    form = NewBoardForm(prefix="new")
    if not form.validate_on_submit():
        flash(_first_error(form), "error")
        return redirect(url_for("admin.boards"))

    def create() -> BoardInfo:
        catalog = json.loads(form.catalog.data or "null")
        return registry().create(
            current_user.id,
            origin(),
            form.slug.data,
            form.title.data,
            catalog,
            form.kept(),
            form.timezone.data,
        )

    return _saved(create, "created")


@bp.post("/boards/<slug>")
@admin_required
def board_update(slug: str) -> Response:
    if not is_slug(slug):
        return redirect(url_for("admin.boards"))
    form = BoardForm(prefix=slug)
    if not form.validate_on_submit():
        flash(_first_error(form), "error")
        return redirect(url_for("admin.boards"))

    def update() -> BoardInfo:
        changes: dict[str, Any] = {
            "title": form.title.data,
            "periods": form.kept(),
            "timezone": form.timezone.data,
        }
        if slug != MAIN and (form.catalog.data or "").strip():
            changes["catalog"] = json.loads(form.catalog.data)
        return registry().update(current_user.id, origin(), slug, changes)

    return _saved(update, "saved")


def _saved(save: Callable[[], BoardInfo], done: str) -> Response:
    """Create or save a board; flash the outcome and go back to the boards page."""
    try:
        board = save()
    except ValueError as err:  # json.JSONDecodeError
        flash(f"Action catalog: not JSON ({err}).", "error")
        return redirect(url_for("admin.boards"))
    except ScoreboardError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.boards"))
    flash(f"Board {board.slug} {done}.")
    return redirect(url_for("admin.boards", _anchor=f"board-{board.slug}"))
