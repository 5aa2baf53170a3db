"""The route table of the OpenAPI document: one line per operation, naming the models it uses.

Request bodies, forms and query parameters are the pydantic models the views validate with;
responses are the TypedDicts the views build their bodies as. The statuses the layers add (the
per-IP limit, body parsing, authentication, path ids) are derived in app/api/openapi.py; `errors`
lists the ones an operation adds itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from app.admin.review import AuditPage, FlagPage, FlagRow, PlayerDetail, UserPage
from app.api import queries as q
from app.api import responses as r
from app.api import schemas as s
from app.auth.privacy import Export
from app.observability import Health, Ready
from app.scoring.board import Leaderboard
from app.shapes import JSONObject

Auth = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Op:
    """One operation: what it takes, what it answers, who may call it."""

    method: str
    path: str
    tag: str
    summary: str
    response: Any = None  # a TypedDict or model; None: no body
    ok: int = 200
    auth: Auth = "public"
    body: type[BaseModel] | None = None  # JSON
    form: type[BaseModel] | None = None  # application/x-www-form-urlencoded
    query: type[BaseModel] | None = None
    ids: tuple[str, ...] = ()  # integer path parameters (ids: 1 to 2^63 - 1, else 404)
    slugs: tuple[str, ...] = ()  # board slug path parameters (a malformed or unknown one: 404)
    errors: tuple[int, ...] = ()
    media: str = "application/json"


MODERATION = (
    ("ban", "Ban a player, for a while or until unbanned", s.BanIn),
    ("unban", "Lift a ban", s.ReasonIn),
    ("hide", "Hide a player from the board", s.ReasonIn),
    ("unhide", "Show a hidden player again", s.ReasonIn),
    ("adjust", "Add or take away points (a score event with source admin)", s.AdjustIn),
    ("reset", "Score to 0, off the board until they score again", s.BoardReasonIn),
)

OPERATIONS: tuple[Op, ...] = (
    Op("post", "/api/v1/auth/register", "accounts", "Create an account; returns tokens", r.SignedIn,
       201, body=s.RegisterIn, errors=(409,)),
    Op("post", "/api/v1/auth/login", "accounts", "Sign in; returns tokens (failures per username are "
       "limited: 429)", r.SignedIn, body=s.LoginIn, errors=(401, 403)),
    Op("get", "/api/v1/me", "accounts", "Your profile, score, rank and percentile", r.Me, auth="user"),
    Op("patch", "/api/v1/me", "accounts", "Change your display name or hide yourself", r.Me,
       auth="user", body=s.MePatch),
    Op("delete", "/api/v1/me", "accounts", "Delete your account (personal data erased)", None, 204,
       auth="user"),
    Op("get", "/api/v1/me/export", "accounts", "Everything held on you, as JSON", Export, auth="user"),
    Op("post", "/api/v1/actions/token", "scoring", "A one-time token for an action you are about to do",
       r.ActionToken, 201, auth="user", body=s.ActionTokenIn, errors=(404,)),
    Op("post", "/api/v1/scores", "scoring", "Submit a completed action; returns the new score and the "
       "next token", r.AcceptedBody, auth="user", body=s.ScoreIn, errors=(409,)),
    Op("get", "/api/v1/leaderboard", "leaderboard", "The top of the board (ETag; If-None-Match gives "
       "304)", Leaderboard, query=q.LeaderboardQuery, errors=(304,)),
    Op("get", "/api/v1/leaderboard/around/{user_id}", "leaderboard", "The players ranked around one "
       "player (404 if not ranked)", Leaderboard, query=q.AroundQuery, ids=("user_id",)),
    Op("get", "/api/v1/users/{user_id}/rank", "leaderboard", "One player's rank and percentile (404 if "
       "not ranked)", r.Rank, ids=("user_id",)),
    Op("get", "/api/v1/users/{user_id}/history", "leaderboard", "A player's score at the end of each hour "
       "or day, on a board and period (at most 2,000 points: 400 beyond; 404 if not ranked there)",
       r.History, query=q.HistoryQuery, ids=("user_id",), errors=(400,)),
    Op("get", "/api/v1/boards", "boards", "Every board: slug, title, periods, timezone", r.BoardList),
    Op("get", "/api/v1/boards/{slug}", "boards", "One board with its public catalog and current "
       "periods (404 for an unknown or malformed slug)", r.BoardDetail, slugs=("slug",)),
    Op("get", "/api/v1/boards/{slug}/leaderboard", "boards", "The top of one period of a board; a past "
       "`at` gives its final standings (ETag; If-None-Match gives 304)", r.BoardLeaderboard,
       query=q.BoardLeaderboardQuery, slugs=("slug",), errors=(304, 400)),
    Op("get", "/api/v1/boards/{slug}/leaderboard/around/{user_id}", "boards", "The players ranked "
       "around one player in one period of a board (404 if not ranked there)", r.BoardLeaderboard,
       query=q.BoardAroundQuery, slugs=("slug",), ids=("user_id",), errors=(400,)),
    Op("get", "/api/v1/boards/{slug}/users/{user_id}/rank", "boards", "One player's rank in one period "
       "of a board (404 if not ranked there)", r.BoardRank, query=q.StreamQuery, slugs=("slug",),
       ids=("user_id",), errors=(400,)),
    Op("get", "/api/v1/admin/boards", "admin", "Every board with its catalog and current periods",
       r.AdminBoardList, auth="admin"),
    Op("post", "/api/v1/admin/boards", "admin", "Create a board (409 if the slug is taken)",
       r.BoardDetail, 201, auth="admin", body=s.BoardIn, errors=(409,)),
    Op("patch", "/api/v1/admin/boards/{slug}", "admin", "Change a board's title, catalog, periods or "
       "timezone (the slug never changes; main keeps the deployment's catalog: 400)", r.BoardDetail,
       auth="admin", body=s.BoardPatch, slugs=("slug",)),
    Op("get", "/api/v1/admin/flags", "admin", "Fraud flags, newest first", FlagPage, auth="admin",
       query=q.FlagsQuery),
    Op("post", "/api/v1/admin/flags/{flag_id}/resolve", "admin", "Clear a flag, or confirm it (bans "
       "the player); 400 if already resolved", FlagRow, auth="admin", body=s.ResolveIn, ids=("flag_id",)),
    Op("get", "/api/v1/admin/users", "admin", "Search players (username, display name, email); "
       "flagged first", UserPage, auth="admin", query=q.UsersQuery),
    Op("get", "/api/v1/admin/users/{user_id}", "admin", "One player with score events, flags and "
       "audit rows", PlayerDetail, auth="admin", ids=("user_id",)),
    *(
        Op("post", f"/api/v1/admin/users/{{user_id}}/{act}", "admin", summary, r.Moderated,
           auth="admin", body=model, ids=("user_id",))
        for act, summary, model in MODERATION
    ),
    Op("get", "/api/v1/admin/audit", "admin", "The audit log, newest first", AuditPage, auth="admin",
       query=q.AuditQuery),
    Op("get", "/api/v1/openapi.json", "meta", "This document", JSONObject),
    Op("post", "/oauth/token", "oauth", "Tokens: refresh_token (rotating; reuse revokes the family) or "
       "authorization_code with PKCE; client credentials in the form or as HTTP Basic", r.Tokens,
       form=s.TokenForm, errors=(400, 401)),
    Op("post", "/oauth/revoke", "oauth", "Revoke a token (RFC 7009: an unknown token is fine)", None,
       form=s.RevokeForm, errors=(400, 401)),
    Op("get", "/oauth/authorize", "oauth", "The consent page (HTML) of the authorization-code flow; "
       "signed out: 302 to /login; errors for a registered client go to its redirect URI (302 with "
       "error=), others get a 400 page", None, query=q.AuthorizeQuery, errors=(302, 400),
       media="text/html"),
    Op("post", "/oauth/authorize", "oauth", "Allow or deny (the consent page's form, with its CSRF "
       "token); redirects to the client with a code or error=access_denied", None, 302,
       form=s.ConsentForm, query=q.AuthorizeQuery, errors=(400,), media="text/html"),
    Op("get", "/oauth/userinfo", "oauth", "Who the access token belongs to", r.UserInfo, auth="user"),
    Op("get", "/.well-known/jwks.json", "oauth", "The public keys access tokens are signed with",
       r.Jwks),
    Op("get", "/.well-known/oauth-authorization-server", "oauth", "Authorization server metadata "
       "(RFC 8414)", r.ServerMetadata),
    Op("get", "/healthz", "operations", "Liveness: the process answers", Health),
    Op("get", "/readyz", "operations", "Readiness: the database (and Redis, in production mode) "
       "reachable; 503 when not", Ready, errors=(503,)),
    Op("get", "/metrics", "operations", "Prometheus metrics for the whole host", str,
       media="text/plain"),
    Op("get", "/api/docs", "meta", "This document as a page", str, media="text/html"),
)  # fmt: skip
