"""Sign in with GitHub, Google or an OpenID provider; connect and disconnect them on /account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_login import current_user, login_required

from app.api.context import origin
from app.auth.external import connect, connected, disconnect, login_failed, sign_in_external
from app.auth.providers import Provider, ProviderError, identity_from_callback, provider, redirect_to
from app.auth.session import sign_in
from app.errors import ScoreboardError
from app.extensions import db
from app.services import services
from app.web.forms import EmptyForm

bp = Blueprint("login", __name__)


@bp.app_context_processor
def _providers() -> dict[str, Any]:
    return {"login_providers": list(current_app.extensions["login_providers"].values())}


def _configured(name: str) -> Provider:
    """:raise 404: no such provider is configured."""
    found = provider(name)
    if found is None:
        abort(404)
    return found


def _back() -> Any:
    return redirect(url_for("web.account" if current_user.is_authenticated else "web.login"))


def _failed(p: Provider, err: ProviderError) -> Any:
    """Audit the failure, tell the person, and go back to where they started."""
    db.session.rollback()
    user_id = current_user.id if current_user.is_authenticated else None
    login_failed(db.session, p.name, err.reason, origin(), user_id=user_id, detail=err.detail)
    flash(f"Signing in with {p.label} failed: {err.message}.", "error")
    return _back()


@bp.get("/login/<name>/start")
def start(name: str) -> Any:
    """Send the browser to the provider. A link, not a form: CSP `form-action 'self'` would stop a
    form's redirect to another origin; the state in this session is what protects the callback."""
    p = _configured(name)
    try:
        return redirect_to(name, url_for("login.callback", name=name, _external=True))
    except ProviderError as err:
        return _failed(p, err)


@bp.get("/login/<name>/callback")
def callback(name: str) -> Any:
    """The provider sends the browser back here: sign in (creating the player the first time), or
    connect the provider to the signed-in player."""
    p = _configured(name)
    try:
        identity = identity_from_callback(name)
    except ProviderError as err:
        return _failed(p, err)
    if current_user.is_authenticated:
        try:
            connect(db.session, current_user, identity, origin())
        except ScoreboardError as err:
            db.session.rollback()
            flash(f"{p.label}: {err.message}", "error")
            return redirect(url_for("web.account"))
        db.session.commit()
        flash(f"{p.label} is connected: you can sign in with it now.")
        return redirect(url_for("web.account"))
    c = current_app.config
    try:
        user, created = sign_in_external(
            db.session,
            identity,
            hash_method=c["PASSWORD_HASH_METHOD"],
            origin=origin(),
            rules=services().rules,
        )
    except ScoreboardError as err:
        db.session.rollback()
        flash(f"Signing in with {p.label} failed: {err.message}", "error")
        return redirect(url_for("web.login"))
    db.session.commit()
    sign_in(user)
    flash(f"Welcome, {user.display_name}!" if created else f"Signed in with {p.label}.")
    return redirect(url_for("web.index"))


@bp.post("/account/connections/<name>/disconnect")
@login_required
def disconnect_provider(name: str) -> Any:
    """Remove a provider while another way to sign in remains."""
    p = _configured(name)
    if not EmptyForm().validate_on_submit():
        flash("The page had expired; please try again.", "error")
        return redirect(url_for("web.account"))
    try:
        disconnect(db.session, current_user, name, origin())
    except ScoreboardError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("web.account"))
    db.session.commit()
    flash(f"{p.label} is disconnected.")
    return redirect(url_for("web.account"))


def connections() -> list[dict[str, Any]]:
    """The signed-in player's providers for /account: every configured one, connected or not."""
    links = connected(db.session, current_user.id)
    configured = current_app.extensions["login_providers"]
    rows = [{"provider": p, "account": links.get(p.name), "configured": True} for p in configured.values()]
    return rows + [
        {"provider": Provider(n, n.title(), openid=False), "account": a, "configured": False}
        for n, a in links.items()
        if n not in configured
    ]
