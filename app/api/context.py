"""Request-side helpers shared by the API: who is calling, the JSON body, where from."""

from __future__ import annotations

from typing import Literal, TypeVar, overload

import orjson
from flask import Response, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from pydantic import BaseModel, ValidationError

from app.api.queries import invalid
from app.audit import Origin
from app.auth.keys import AccessTokens
from app.auth.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_SCORE, Principal
from app.errors import ScoreboardError
from app.extensions import csrf
from app.services import services

T = TypeVar("T", bound=BaseModel)


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise with orjson (dicts only: no ORM rows)."""
    return Response(orjson.dumps(data), status=status, mimetype="application/json", headers=headers)


def origin() -> Origin:
    return Origin.of(request.remote_addr, request.user_agent.string)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def bearer_principal(access: AccessTokens, token: str) -> Principal:
    """The caller an access token names.

    :raise ScoreboardError UNAUTHORIZED: the token is not valid.
    """
    claims = access.verify(token)
    return Principal(
        int(claims["sub"]),
        claims.get("username", ""),
        frozenset(str(claims.get("scope", "")).split()),
        "t:" + str(claims.get("sid")),
    )


@overload
def principal(required: Literal[True] = True) -> Principal: ...


@overload
def principal(required: bool) -> Principal | None: ...


def principal(required: bool = True) -> Principal | None:
    """The caller, from a Bearer token or the browser session (with CSRF on unsafe methods).

    :raise ScoreboardError UNAUTHORIZED: when required and absent or invalid.
    """
    token = bearer_token()
    if token is not None:
        return bearer_principal(services().access, token)
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            CSRFProtect.protect(csrf)
        scopes = {SCOPE_READ, SCOPE_SCORE} | ({SCOPE_ADMIN} if current_user.is_admin else set())
        return Principal(
            current_user.id,
            current_user.username,
            frozenset(scopes),
            "s:" + str(session.get("sid", current_user.id)),
        )
    if required:
        raise ScoreboardError("UNAUTHORIZED", "Sign in, or send an Authorization: Bearer token.")
    return None


def body(model: type[T]) -> T:
    """The request's JSON body, validated strictly (unknown fields and wrong types refused).

    :raise ScoreboardError INVALID_REQUEST: naming the first problem.
    """
    if not request.is_json:
        raise ScoreboardError("INVALID_REQUEST", "Send a JSON object with Content-Type: application/json.")
    return parse_body(model, request.get_data(cache=False))


def parse_body(model: type[T], raw: bytes) -> T:
    """A JSON body validated strictly by `model`.

    :raise ScoreboardError INVALID_REQUEST: naming the first problem.
    """
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise invalid(exc) from None
