"""Response bodies of the JSON API, as the TypedDicts the views build them with (app/shapes.py).

The board's own shapes live beside the code that serialises them (app/scoring/board.py), the
admin reads' beside their queries (app/admin/review.py); all of them feed the OpenAPI document.
"""

from __future__ import annotations

from typing import Literal

from app.admin.review import AdminUser
from app.scoring.board import Entry
from app.shapes import JSONObject, MaybeTime, NotRequired, Time, TypedDict, closed


@closed
class ErrorDetail(TypedDict):
    code: str
    message: str
    retry_after: NotRequired[int]


@closed
class Error(TypedDict):
    """Every refusal under /api/v1 (SPEC §6); `retry_after` mirrors the Retry-After header."""

    success: Literal[False]
    error: ErrorDetail


@closed
class OAuthError(TypedDict):
    """A refusal of /oauth/token or /oauth/revoke (RFC 6749 §5.2, RFC 7009 §2.2.1)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_token_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
    ]
    error_description: NotRequired[str]


@closed
class Tokens(TypedDict):
    """A token response (RFC 6749 §5.1), from /oauth/token."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str
    scope: str


@closed
class Account(TypedDict):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Literal["player", "admin"]


@closed
class SignedIn(Tokens):
    """Register and login: the token response and the account."""

    user: Account


@closed
class Me(Account):
    """The caller's own profile, score, rank and percentile."""

    user_id: int
    score: int
    rank: int | None
    percentile: float | None
    total_players: int
    is_hidden: bool
    is_banned: bool
    last_updated: MaybeTime
    created_at: Time


@closed
class ActionToken(TypedDict):
    action_token: str
    action_type: str
    expires_at: Time
    expires_in: int


@closed
class AcceptedData(TypedDict):
    user_id: int
    username: str
    action_id: str
    action_type: str
    points: int
    new_score: int
    rank: int | None
    previous_rank: int | None
    next_action_token: str | None
    next_action_expires_in: int | None


@closed
class AcceptedBody(TypedDict):
    """An accepted submit (SPEC §6)."""

    success: Literal[True]
    data: AcceptedData


@closed
class Rank(TypedDict):
    user_id: int
    username: str
    score: int
    rank: int
    percentile: float
    last_updated: MaybeTime


@closed
class Moderated(TypedDict):
    """The player after a moderation act, with their rank before and after."""

    user: AdminUser
    rank: int | None
    previous_rank: int | None
    total_players: int


@closed
class UserInfo(TypedDict):
    sub: str
    username: str
    email: str | None


@closed
class Jwks(TypedDict):
    """The public keys access tokens are signed with (RFC 7517)."""

    keys: list[JSONObject]


@closed
class ServerMetadata(TypedDict):
    """Authorization server metadata (RFC 8414)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]


PeriodName = Literal["all", "daily", "weekly", "monthly"]
Dated = Literal["daily", "weekly", "monthly"]  # the periods a board may keep besides `all`


@closed
class BoardSummary(TypedDict):
    slug: str
    title: str
    periods: list[Dated]
    timezone: str


@closed
class BoardList(TypedDict):
    boards: list[BoardSummary]


@closed
class ActionRule(TypedDict):
    points: int
    cooldown_seconds: int
    max_per_hour: int


@closed
class CurrentPeriod(TypedDict):
    """A period the board ranks over as it stands now; the bounds are null for `all`."""

    period: PeriodName
    period_key: str
    starts_at: MaybeTime
    ends_at: MaybeTime


@closed
class BoardDetail(TypedDict):
    """A board with its public catalog and its current periods."""

    slug: str
    title: str
    periods: list[Dated]
    timezone: str
    catalog: dict[str, ActionRule]
    current: list[CurrentPeriod]


@closed
class AdminBoardList(TypedDict):
    boards: list[BoardDetail]


@closed
class BoardLeaderboard(TypedDict):
    """A page of one (board, period): the leaderboard shape with the stream it is of."""

    leaderboard: list[Entry]
    total_players: int
    last_updated: MaybeTime
    seq: int
    board: str
    period: PeriodName
    period_key: str
    starts_at: MaybeTime
    ends_at: MaybeTime


@closed
class BoardRank(Rank):
    """One player's rank in one (board, period)."""

    board: str
    period: PeriodName
    period_key: str


@closed
class HistoryPoint(TypedDict):
    at: Time
    score: int


@closed
class History(TypedDict):
    """A player's score at the end of each bucket."""

    points: list[HistoryPoint]
