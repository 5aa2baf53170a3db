"""The OpenAPI 3.1 document of the JSON API and the OAuth endpoints, and a page that shows it.

Request bodies come from the pydantic models the views validate with, so the document cannot
drift from what the API accepts; a test checks that every route is in it and nothing else.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Response

from app.api import bp
from app.api.context import json_response
from app.api.errors import PROTOCOL_PATHS
from app.api.schemas import (
    ActionTokenIn,
    AdjustIn,
    BanIn,
    LoginIn,
    MePatch,
    ReasonIn,
    RegisterIn,
    ResolveIn,
    ScoreIn,
)

S = dict[str, Any]


def _obj(required: tuple[str, ...] = (), **props: S) -> S:
    schema: S = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(key: str, item: str) -> S:
    return _shape(
        "page pages total", f"{key} page pages total", **{key: {"type": "array", "items": _ref(item)}}
    )


INT, STR, BOOL = {"type": "integer"}, {"type": "string"}, {"type": "boolean"}
TIME, MAYBE_TIME = (
    {"type": "string", "format": "date-time"},
    {"type": ["string", "null"], "format": "date-time"},
)
MAYBE_INT, MAYBE_STR, ANY_OBJ = (
    {"type": ["integer", "null"]},
    {"type": ["string", "null"]},
    {"type": "object"},
)

# Every field the responses use, by name: a schema lists names (and the required ones).
FIELDS: dict[str, S] = {
    **dict.fromkeys(("id", "user_id", "points", "new_score", "score", "total_players", "seq"), INT),
    **dict.fromkeys(("expires_in", "penalty_level", "page", "pages", "total"), INT),
    **dict.fromkeys(("username", "display_name", "role", "action_id", "action_type", "rule"), STR),
    **dict.fromkeys(("action_token", "access_token", "refresh_token", "scope", "event", "outcome"), STR),
    **dict.fromkeys(("rank", "previous_rank", "next_action_expires_in", "actor_user_id"), MAYBE_INT),
    **dict.fromkeys(("subject_user_id", "resolved_by"), MAYBE_INT),
    **dict.fromkeys(("email", "next_action_token", "reason_code", "ip", "user_agent"), MAYBE_STR),
    **dict.fromkeys(("is_hidden", "is_banned", "is_flagged"), BOOL),
    **dict.fromkeys(("created_at", "expires_at"), TIME),
    **dict.fromkeys(("last_updated", "score_updated_at", "banned_until", "suspended_until"), MAYBE_TIME),
    "resolved_at": MAYBE_TIME,
    "percentile": {"type": ["number", "null"]},
    "details": {"type": ["object", "null"]},
}


def _shape(names: str, required: str = "", **extra: S) -> S:
    """An object of the named FIELDS (plus `extra`); `required`: names, or "*" for all."""
    props = {n: FIELDS[n] for n in names.split()} | extra
    return _obj(tuple(props) if required == "*" else tuple(required.split()), **props)


ADMIN_USER = "id username display_name email role score score_updated_at is_banned banned_until"
SCHEMAS: dict[str, S] = {
    "Error": _obj(
        ("success", "error"),
        success={"const": False},
        error=_obj(("code", "message"), code=STR, message=STR, retry_after=INT),
    ),
    "OAuthError": _obj(
        ("error",),
        error={
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
                "server_error",
                "temporarily_unavailable",
            ]
        },
        error_description=STR,
    ),
    "TokenResponse": _shape(
        "access_token expires_in refresh_token scope",
        "access_token token_type expires_in refresh_token scope",
        token_type={"const": "Bearer"},
        user=_shape("id username display_name email role"),
    ),
    "ActionToken": _shape("action_token action_type expires_at expires_in", "*"),
    "Accepted": _obj(
        ("success", "data"),
        success={"const": True},
        data=_shape(
            "user_id username action_id action_type points new_score rank previous_rank "
            "next_action_token next_action_expires_in",
            "*",
        ),
    ),
    "Entry": _shape("rank user_id username display_name score last_updated", "*"),
    "Leaderboard": _shape(
        "total_players last_updated seq", "*", leaderboard={"type": "array", "items": _ref("Entry")}
    ),
    "Rank": _shape("user_id username score rank percentile last_updated", "*"),
    "Me": _shape(
        "user_id username display_name email score rank percentile total_players is_hidden is_banned "
        "last_updated created_at"
    ),
    "Flag": _shape(
        "id user_id username rule details created_at resolved_by resolved_at",
        "id user_id username rule severity details status created_at",
        severity={"enum": ["low", "medium", "high", "critical"]},
        status={"enum": ["open", "cleared", "confirmed"]},
    ),
    "AdminUser": _shape(f"{ADMIN_USER} suspended_until penalty_level is_hidden is_flagged created_at"),
    "AuditEntry": _shape(
        "id actor_user_id subject_user_id event outcome reason_code ip user_agent details created_at"
    ),
    "Player": _obj(
        ("user", "score_events", "flags", "audit"),
        user=_ref("AdminUser"),
        score_events={"type": "array", "items": ANY_OBJ},
        flags={"type": "array", "items": _ref("Flag")},
        audit={"type": "array", "items": _ref("AuditEntry")},
    ),
    "Moderated": _shape("rank previous_rank total_players", "*", user=_ref("AdminUser")),
    "FlagPage": _page("flags", "Flag"),
    "UserPage": _page("users", "AdminUser"),
    "AuditPage": _page("entries", "AuditEntry"),
}
MODELS = (RegisterIn, LoginIn, ActionTokenIn, ScoreIn, MePatch, ReasonIn, BanIn, AdjustIn, ResolveIn)

USER: list[S] = [{"bearer": []}, {"session": []}]
ADMIN: list[S] = [{"bearer": ["admin"]}, {"session": []}]
PUBLIC: list[S] = []
SESSION: list[S] = [{"session": []}]
STATUS_TEXT = {200: "OK", 201: "Created", 204: "No content", 302: "Redirect to the client's redirect_uri"}


def _query(name: str, schema: S, description: str) -> S:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str) -> S:
    return {"name": name, "in": "path", "required": True, "schema": INT}


PAGE = _query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number (50 per page)")

# (method, path, tag, summary, security, request model or form fields, parameters, status, response)
OPERATIONS: list[tuple[str, str, str, str, list[S], Any, list[S], int, S | None]] = [
    (
        "post",
        "/api/v1/auth/register",
        "accounts",
        "Create an account; returns tokens",
        PUBLIC,
        RegisterIn,
        [],
        201,
        _ref("TokenResponse"),
    ),
    (
        "post",
        "/api/v1/auth/login",
        "accounts",
        "Sign in; returns tokens",
        PUBLIC,
        LoginIn,
        [],
        200,
        _ref("TokenResponse"),
    ),
    (
        "get",
        "/api/v1/me",
        "accounts",
        "Your profile, score, rank and percentile",
        USER,
        None,
        [],
        200,
        _ref("Me"),
    ),
    (
        "patch",
        "/api/v1/me",
        "accounts",
        "Change your display name or hide yourself",
        USER,
        MePatch,
        [],
        200,
        _ref("Me"),
    ),
    (
        "delete",
        "/api/v1/me",
        "accounts",
        "Delete your account (personal data erased)",
        USER,
        None,
        [],
        204,
        None,
    ),
    ("get", "/api/v1/me/export", "accounts", "Everything held on you, as JSON", USER, None, [], 200, ANY_OBJ),
    (
        "post",
        "/api/v1/actions/token",
        "scoring",
        "A one-time token for an action you are about to do",
        USER,
        ActionTokenIn,
        [],
        201,
        _ref("ActionToken"),
    ),
    (
        "post",
        "/api/v1/scores",
        "scoring",
        "Submit a completed action; returns the new score and the next token",
        USER,
        ScoreIn,
        [],
        200,
        _ref("Accepted"),
    ),
    (
        "get",
        "/api/v1/leaderboard",
        "leaderboard",
        "The top of the board (ETag; If-None-Match gives 304)",
        PUBLIC,
        None,
        [
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "entries"),
            _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "entries to skip"),
        ],
        200,
        _ref("Leaderboard"),
    ),
    (
        "get",
        "/api/v1/leaderboard/around/{user_id}",
        "leaderboard",
        "The players ranked around one player",
        PUBLIC,
        None,
        [
            _path("user_id"),
            _query(
                "radius", {"type": "integer", "minimum": 0, "maximum": 50, "default": 5}, "players each side"
            ),
        ],
        200,
        _ref("Leaderboard"),
    ),
    (
        "get",
        "/api/v1/users/{user_id}/rank",
        "leaderboard",
        "One player's rank and percentile (404 if not ranked)",
        PUBLIC,
        None,
        [_path("user_id")],
        200,
        _ref("Rank"),
    ),
    (
        "get",
        "/api/v1/admin/flags",
        "admin",
        "Fraud flags, newest first",
        ADMIN,
        None,
        [
            _query(
                "status", {"enum": ["open", "cleared", "confirmed", "all"], "default": "open"}, "which flags"
            ),
            PAGE,
        ],
        200,
        _ref("FlagPage"),
    ),
    (
        "post",
        "/api/v1/admin/flags/{flag_id}/resolve",
        "admin",
        "Clear a flag, or confirm it (bans the player)",
        ADMIN,
        ResolveIn,
        [_path("flag_id")],
        200,
        _ref("Flag"),
    ),
    (
        "get",
        "/api/v1/admin/users",
        "admin",
        "Search players (username, display name, email); flagged first",
        ADMIN,
        None,
        [_query("q", STR, "text to look for"), PAGE],
        200,
        _ref("UserPage"),
    ),
    (
        "get",
        "/api/v1/admin/users/{user_id}",
        "admin",
        "One player with score events, flags and audit rows",
        ADMIN,
        None,
        [_path("user_id")],
        200,
        _ref("Player"),
    ),
    *(
        (
            "post",
            f"/api/v1/admin/users/{{user_id}}/{act}",
            "admin",
            summary,
            ADMIN,
            model,
            [_path("user_id")],
            200,
            _ref("Moderated"),
        )
        for act, summary, model in (
            ("ban", "Ban a player, for a while or until unbanned", BanIn),
            ("unban", "Lift a ban", ReasonIn),
            ("hide", "Hide a player from the board", ReasonIn),
            ("unhide", "Show a hidden player again", ReasonIn),
            ("adjust", "Add or take away points (a score event with source admin)", AdjustIn),
            ("reset", "Score to 0, off the board until they score again", ReasonIn),
        )
    ),
    (
        "get",
        "/api/v1/admin/audit",
        "admin",
        "The audit log, newest first",
        ADMIN,
        None,
        [
            _query("user_id", INT, "rows by or about this player"),
            _query("event", STR, "e.g. score.rejected, admin.ban"),
            _query("since", TIME, "ISO 8601, inclusive"),
            _query("until", TIME, "ISO 8601, exclusive"),
            PAGE,
        ],
        200,
        _ref("AuditPage"),
    ),
    (
        "post",
        "/oauth/token",
        "oauth",
        "Tokens: refresh_token (rotating; reuse revokes the family) or authorization_code with PKCE",
        PUBLIC,
        {
            "grant_type": {"enum": ["refresh_token", "authorization_code"]},
            "refresh_token": STR,
            "code": STR,
            "code_verifier": STR,
            "redirect_uri": STR,
            "client_id": STR,
            "client_secret": STR,
        },
        [],
        200,
        _ref("TokenResponse"),
    ),
    (
        "get",
        "/oauth/authorize",
        "oauth",
        "The consent page (HTML) of the authorization-code flow; PKCE (S256) required",
        SESSION,
        None,
        [
            _query(name, STR, about)
            for name, about in (
                ("response_type", "code"),
                ("client_id", "a registered client"),
                ("redirect_uri", "one of the client's"),
                ("scope", "space-separated scopes"),
                ("state", "returned as given"),
                ("code_challenge", "PKCE"),
                ("code_challenge_method", "S256"),
            )
        ],
        200,
        None,
    ),
    (
        "post",
        "/oauth/authorize",
        "oauth",
        "Allow or deny; redirects to the client with a code (or error=access_denied)",
        SESSION,
        {"decision": {"enum": ["allow", "deny"]}, "csrf_token": STR},
        [],
        302,
        None,
    ),
    (
        "post",
        "/oauth/revoke",
        "oauth",
        "Revoke a token (RFC 7009)",
        PUBLIC,
        {"token": STR, "token_type_hint": STR, "client_id": STR, "client_secret": STR},
        [],
        200,
        None,
    ),
    (
        "get",
        "/oauth/userinfo",
        "oauth",
        "Who the access token belongs to",
        USER,
        None,
        [],
        200,
        _obj(("sub", "username"), sub=STR, username=STR, email=MAYBE_STR),
    ),
    (
        "get",
        "/.well-known/jwks.json",
        "oauth",
        "The public keys access tokens are signed with",
        PUBLIC,
        None,
        [],
        200,
        _obj(("keys",), keys={"type": "array", "items": ANY_OBJ}),
    ),
    (
        "get",
        "/.well-known/oauth-authorization-server",
        "oauth",
        "Authorization server metadata (RFC 8414)",
        PUBLIC,
        None,
        [],
        200,
        ANY_OBJ,
    ),
    ("get", "/api/v1/openapi.json", "meta", "This document", PUBLIC, None, [], 200, ANY_OBJ),
]


def _operation(
    tag: str, summary: str, security: list[S], request: Any, params: list[S], status: int, response: S | None
) -> S:
    op: S = {"tags": [tag], "summary": summary, "security": security}
    if params:
        op["parameters"] = params
    if isinstance(request, dict):  # form fields
        form = {"type": "object", "properties": request}
        op["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form}},
        }
    elif request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(request.__name__)}},
        }
    ok: S = {"description": STATUS_TEXT[status]}
    if response is not None:
        ok["content"] = {"application/json": {"schema": response}}
    error = {
        "description": "Refused (SPEC error codes)",
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    op["responses"] = {str(status): ok, "4XX": error}
    return op


@cache
def document() -> S:
    """The OpenAPI 3.1 document (built once)."""
    schemas = dict(SCHEMAS)
    for model in MODELS:
        schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    paths: dict[str, S] = {}
    for method, path, *rest in OPERATIONS:
        op = paths.setdefault(path, {})[method] = _operation(*rest)
        if path in PROTOCOL_PATHS:  # RFC 6749 §5.2 / RFC 7009 bodies; 401 with WWW-Authenticate
            op["responses"]["4XX"] = {
                "description": "Refused (RFC 6749 §5.2 error; 401 with WWW-Authenticate for invalid_client)",
                "content": {"application/json": {"schema": _ref("OAuthError")}},
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Live Scoreboard API",
            "version": "1",
            "description": "Errors: {success: false, error: {code, message, retry_after?}} with a "
            "Retry-After header where there is a wait. Bodies over MAX_CONTENT_LENGTH get 413. "
            "/oauth/token and /oauth/revoke answer errors as their RFCs say: {error, error_description}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "A browser session; writes also send the X-CSRFToken header",
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(document(), headers={"Cache-Control": "public, max-age=300"})
