"""The OAuth endpoints: token, revoke, userinfo, JWKS and RFC 8414 metadata."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from app.api.context import json_response, principal
from app.auth.server import SCOPES, request_issuer
from app.errors import ScoreboardError
from app.extensions import db
from app.models.users import User
from app.services import services

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
    user = db.session.get(User, who.user_id)  # type: ignore[union-attr]
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
