"""The OAuth endpoints: authorize (consent), token, revoke, userinfo, JWKS, RFC 8414 metadata."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user, login_required

from app.api.context import json_response, principal
from app.auth.server import SCOPES, request_issuer
from app.errors import ScoreboardError
from app.extensions import db
from app.models.users import User
from app.services import services
from app.web.forms import EmptyForm

bp = Blueprint("oauth", __name__)


def _server():  # type: ignore[no-untyped-def]
    return current_app.extensions["oauth_server"]


def _single_parameters() -> None:
    """:raise ScoreboardError INVALID_REQUEST: a parameter is repeated (RFC 6749 §3.2)."""
    for name, values in request.form.lists():
        if len(values) > 1:
            raise ScoreboardError("INVALID_REQUEST", f"{name}: must not be sent more than once")


@bp.post("/oauth/token")
def token() -> Response:
    _single_parameters()
    return _server().create_token_response()


@bp.post("/oauth/revoke")
def revoke() -> Response:
    _single_parameters()
    return _server().create_endpoint_response("revocation")


@bp.get("/oauth/userinfo")
def userinfo() -> Response:
    who = principal()
    user = db.session.get(User, who.user_id)
    if user is None or user.is_deleted:
        raise ScoreboardError("UNAUTHORIZED", "The account no longer exists.")
    return json_response({"sub": str(user.id), "username": user.username, "email": user.email})


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    return json_response(services().access.jwks(), headers={"Cache-Control": "public, max-age=300"})


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    base = current_app.config["JWT_ISSUER"] or request_issuer()
    root = request.url_root.rstrip("/")
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": f"{root}/oauth/authorize",
            "token_endpoint": f"{root}/oauth/token",
            "revocation_endpoint": f"{root}/oauth/revoke",
            "userinfo_endpoint": f"{root}/oauth/userinfo",
            "jwks_uri": f"{root}/.well-known/jwks.json",
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
        }
    )


SCOPE_TEXT = {
    "read:leaderboard": "see the leaderboard and your rank",
    "update:score": "perform actions and submit scores as you",
    "admin": "moderate players (ban, hide, adjust, reset) as you",
}


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@login_required
def authorize() -> Any:
    """The consent page of the authorization-code + PKCE flow for registered clients."""
    server = _server()
    try:
        grant = server.get_consent_grant(end_user=current_user)
    except OAuth2Error as err:  # a bad client or redirect URI: never redirect to it
        message = err.description or err.error
        return render_template("error.html", title="This sign-in link is not valid", message=message), 400
    if not grant.request.payload.data.get("code_challenge"):
        message = "This client must use PKCE (code_challenge with code_challenge_method=S256)."
        return render_template("error.html", title="This sign-in link is not valid", message=message), 400
    if request.method == "GET":
        scopes = str(grant.request.payload.scope or "").split()
        return render_template(
            "auth/authorize.html",
            client=grant.client,
            scopes=[SCOPE_TEXT.get(s, s) for s in scopes],
            form=EmptyForm(),
        )
    if not EmptyForm().validate_on_submit():
        return render_template("error.html", title="Please try again", message="The form expired."), 400
    allowed = current_user if request.form.get("decision") == "allow" else None
    return server.create_authorization_response(grant_user=allowed, grant=grant)
