"""The OAuth endpoints: authorize (consent), token, revoke, userinfo, JWKS, RFC 8414 metadata."""

from __future__ import annotations

import re
from typing import Any, cast

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user
from pydantic import ValidationError
from sqlalchemy import select

from app.api.context import json_response, principal
from app.api.responses import Jwks, ServerMetadata, UserInfo
from app.api.schemas import VSCHAR, ConsentForm
from app.auth.server import SCOPES, request_issuer
from app.errors import ScoreboardError
from app.extensions import db, login_manager
from app.models.oauth import OAuthClient
from app.models.users import User
from app.services import services
from app.web.forms import EmptyForm

bp = Blueprint("oauth", __name__)
_VSCHAR = re.compile(VSCHAR)


def _server():  # type: ignore[no-untyped-def]
    return current_app.extensions["oauth_server"]


def _single_parameters() -> None:
    """Each parameter once, as printable ASCII (RFC 6749 §3.2, Appendix A).

    :raise ScoreboardError INVALID_REQUEST: the error handler answers it as `invalid_request` on
        these endpoints.
    """
    for name, values in request.form.lists():
        if len(values) > 1:
            raise ScoreboardError("INVALID_REQUEST", f"{name}: must not be sent more than once")
        if not _VSCHAR.fullmatch(values[0]):
            raise ScoreboardError("INVALID_REQUEST", f"{name}: must be printable ASCII")


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
    info: UserInfo = {"sub": str(user.id), "username": user.username, "email": user.email}
    return json_response(info)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    keys = cast(Jwks, services().access.jwks())
    return json_response(keys, headers={"Cache-Control": "public, max-age=300"})


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    base = current_app.config["JWT_ISSUER"] or request_issuer()
    root = request.url_root.rstrip("/")
    body: ServerMetadata = {
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
    return json_response(body)


SCOPE_TEXT = {
    "read:leaderboard": "see the leaderboard and your rank",
    "update:score": "perform actions and submit scores as you",
    "admin": "moderate players (ban, hide, adjust, reset) as you",
}


def _error_redirect_uri() -> str | None:
    """Where an authorization error may go (RFC 6749 §4.1.2.1): the redirect URI of a known client,
    as registered; None when the client or the URI is not valid (the error is shown here instead)."""
    client_ids, uris = request.args.getlist("client_id"), request.args.getlist("redirect_uri")
    if len(client_ids) != 1 or len(uris) > 1 or len(client_ids[0]) > 48:
        return None
    client = db.session.execute(select(OAuthClient).filter_by(client_id=client_ids[0])).scalar_one_or_none()
    if client is None:
        return None
    if uris:
        return uris[0] if client.check_redirect_uri(uris[0]) else None
    return client.get_default_redirect_uri()


def _authorization_error(server: Any, err: OAuth2Error) -> Any:
    """The error on the client's redirect URI when it is safe to go there, else an error page."""
    err.redirect_uri = err.redirect_uri or _error_redirect_uri()
    if err.redirect_uri:
        err.state = request.args.get("state")
        return server.handle_error_response(request, err)
    message = err.description or err.error
    return render_template("error.html", title="This sign-in link is not valid", message=message), 400


def _invalid_link(message: str) -> tuple[str, int]:
    """The 400 page for an authorization request that cannot be answered on a redirect."""
    return render_template("error.html", title="This sign-in link is not valid", message=message), 400


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """The consent page of the authorization-code + PKCE flow for registered clients.

    A request naming no registered client and redirect URI is refused here, signed in or not
    (RFC 6749 §4.1.2.1: never redirect it); so is a consent form without its fields.
    """
    if _error_redirect_uri() is None:
        return _invalid_link("The client is not registered, or the redirect URI is not one of its own.")
    if request.method == "POST" and not _consent_form():
        return _invalid_link("The consent form is incomplete.")
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    server = _server()
    try:
        grant = server.get_consent_grant(end_user=current_user)
    except OAuth2Error as err:
        return _authorization_error(server, err)
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


def _consent_form() -> bool:
    """Whether the posted form has the consent page's fields (ConsentForm)."""
    try:
        ConsentForm.model_validate(request.form.to_dict())
    except ValidationError:
        return False
    return True
