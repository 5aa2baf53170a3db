"""Register, sign in, and the caller's own profile."""

from __future__ import annotations

from typing import cast

from flask import Response, current_app

from app.api import bp
from app.api.context import body, json_response, origin, principal
from app.api.leaderboard import percentile
from app.api.responses import Account, Me, SignedIn, Tokens
from app.api.schemas import LoginIn, MePatch, RegisterIn
from app.auth.accounts import authenticate, create_user
from app.auth.privacy import erase_user, export_user
from app.errors import ScoreboardError
from app.extensions import db
from app.models.users import User
from app.scoring.board import iso
from app.services import services


def user_json(user: User) -> Account:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,  # type: ignore[typeddict-item]  # the column holds "player" or "admin"
    }


def signed_in(user: User) -> SignedIn:
    """The token response for a user who just signed in, with their account."""
    t = cast(Tokens, services().issuer.issue_for(user))  # Authlib's generator gives these five
    return {
        "access_token": t["access_token"],
        "token_type": t["token_type"],
        "expires_in": t["expires_in"],
        "refresh_token": t["refresh_token"],
        "scope": t["scope"],
        "user": user_json(user),
    }


@bp.post("/auth/register")
def register() -> Response:
    data = body(RegisterIn)
    s = services()
    user = create_user(
        db.session,
        data.username,
        data.email,
        data.password,
        hash_method=current_app.config["PASSWORD_HASH_METHOD"],
        origin=origin(),
        rules=s.rules,
    )
    db.session.commit()
    return json_response(signed_in(user), 201)


@bp.post("/auth/login")
def login() -> Response:
    data = body(LoginIn)
    c = current_app.config
    user = authenticate(
        db.session,
        data.username,
        data.password,
        origin=origin(),
        limits=services().limits,
        failures_limit=c["RATELIMIT_LOGIN_FAILURES"],
        enabled=c["RATELIMIT_ENABLED"],
    )
    db.session.commit()
    return json_response(signed_in(user))


def current_account() -> User:
    """:raise ScoreboardError UNAUTHORIZED: signed out, or the account is gone."""
    who = principal()
    user = db.session.get(User, who.user_id)
    if user is None or user.is_deleted:
        raise ScoreboardError("UNAUTHORIZED", "The account no longer exists.")
    db.session.commit()  # release the connection before the domain takes its own
    return user


def me_json(user: User) -> Me:
    standing, total = services().standings.rank(user.id)
    return {
        **user_json(user),
        "user_id": user.id,
        "score": user.score,
        "rank": standing.rank if standing else None,
        "percentile": percentile(standing.rank, total) if standing else None,
        "total_players": total,
        "is_hidden": user.is_hidden,
        "is_banned": user.is_banned,
        "last_updated": iso(user.score_updated_at),
        "created_at": iso(user.created_at),
    }


@bp.get("/me")
def me() -> Response:
    return json_response(me_json(current_account()))


@bp.patch("/me")
def patch_me() -> Response:
    user = current_account()
    data = body(MePatch)
    moderation = services().moderation
    if data.display_name is not None:  # tidied by the model: visible text, single spaces
        moderation.rename(user.id, data.display_name, origin())
    if data.is_hidden is not None and data.is_hidden != user.is_hidden:
        moderation.set_hidden(user.id, user.id, data.is_hidden, "player privacy choice", origin())
    db.session.expire_all()
    return json_response(me_json(db.session.get(User, user.id)))  # type: ignore[arg-type]


@bp.get("/me/export")
def export_me() -> Response:
    return json_response(export_user(services().engine, current_account().id))


@bp.delete("/me")
def delete_me() -> Response:
    user = current_account()
    erase_user(services().moderation, user.id)
    return Response(status=204)
