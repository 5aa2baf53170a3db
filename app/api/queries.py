"""Query parameters: the models the views parse `request.args` with, and the document lists.

Values arrive as text; an integer must be written as plain digits (no `1.5`, `1e2`, spaces or
`_`), a time as ISO 8601. Unknown parameters are ignored (cache busters); repeated ones count
once (the first).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app import text
from app.errors import ScoreboardError

Q = TypeVar("Q", bound=BaseModel)
BIGINT = 2**63 - 1  # the database's ids and scores are bigint
ID = f"int(min=1, max={BIGINT})"  # the URL converter of an id in a path: anything else is 404
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _integer(raw: object) -> object:
    """Plain decimal digits to an int; anything else is left for the int check to refuse."""
    if isinstance(raw, str) and _DIGITS.fullmatch(raw):
        return int(raw)
    return raw


def _time(raw: object) -> object:
    """ISO 8601 text to an aware datetime (UTC when it names no zone)."""
    if not isinstance(raw, str):
        return raw
    try:
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        raise ValueError("must be an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# After the constraints, so that they stay in the schema as minimum/maximum.
DIGITS, ISO = BeforeValidator(_integer), BeforeValidator(_time)
Page = Annotated[int, Field(ge=1, le=10**6, description="page number (50 per page)"), DIGITS]


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class LeaderboardQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100, description="entries"), DIGITS] = 10
    offset: Annotated[
        int, Field(ge=0, le=10**9, description="entries to skip (past the end: an empty page)"), DIGITS
    ] = 0


class AroundQuery(Query):
    radius: Annotated[int, Field(ge=0, le=50, description="players each side"), DIGITS] = 5


PeriodName = Literal["all", "daily", "weekly", "monthly"]


class StreamQuery(Query):
    """Which period of a board (SPEC §14)."""

    period: PeriodName = Field(default="all", description="one the board keeps (else 400)")
    at: str | None = Field(
        default=None,
        pattern=r"^(all|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-W[0-9]{2}|[0-9]{4}-[0-9]{2})$",
        description="a period key: 2026-12-02, 2026-W49, 2026-12 (default: the current one; a past "
        "one gives its final standings; a future one: 400)",
    )


class BoardLeaderboardQuery(LeaderboardQuery, StreamQuery):
    pass


class BoardAroundQuery(AroundQuery, StreamQuery):
    pass


class HistoryQuery(Query):
    """A player's score over time on one board and period (SPEC §14)."""

    board: str = Field(default="main", pattern=r"^[a-z0-9-]{1,32}$", description="a board's slug")
    period: PeriodName = Field(default="all", description="one the board keeps (its current window)")
    bucket: Literal["hour", "day"] = Field(
        default="hour", description="hours (UTC) or days (the board's zone)"
    )
    since: Annotated[datetime, ISO] | None = Field(
        default=None, alias="from", description="ISO 8601 (default: 48 hours, or 90 days, before until)"
    )
    until: Annotated[datetime, ISO] | None = Field(default=None, description="ISO 8601 (default: now)")


class LiveQuery(Query):
    """The stream a live connection, fragment or widget follows."""

    board: str = Field(default="main", pattern=r"^[a-z0-9-]{1,32}$", description="a board's slug")
    period: PeriodName = Field(default="all", description="one the board keeps")
    around: (
        Annotated[int, Field(ge=0, le=10, description="push the player's neighbourhood"), DIGITS] | None
    ) = None


class FlagsQuery(Query):
    status: Literal["open", "cleared", "confirmed", "all"] = "open"
    page: Page = 1


class UsersQuery(Query):
    q: Annotated[str, Field(max_length=64, pattern=text.VISIBLE, description="text to look for")] = ""
    page: Page = 1


class AuditQuery(Query):
    user_id: Annotated[int, Field(ge=1, le=BIGINT), DIGITS] | None = Field(
        default=None, description="rows by or about this player"
    )
    event: Annotated[
        str, Field(max_length=64, pattern=text.VISIBLE, description="e.g. score.rejected, admin.ban")
    ] = ""
    since: Annotated[datetime, ISO] | None = Field(default=None, description="ISO 8601, inclusive")
    until: Annotated[datetime, ISO] | None = Field(default=None, description="ISO 8601, exclusive")
    page: Page = 1


class AuthorizeQuery(Query):
    """An authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3)."""

    response_type: Literal["code"]
    client_id: str = Field(pattern=r"^[\x21-\x7e]{1,48}$", description="a registered client")
    redirect_uri: str | None = Field(
        default=None, pattern=r"^[\x21-\x7e]{1,512}$", description="one of the client's"
    )
    scope: str | None = Field(
        default=None, max_length=128, pattern=r"^[\x21-\x7e]+( [\x21-\x7e]+)*$", description="scopes"
    )
    state: str | None = Field(default=None, pattern=r"^[\x20-\x7e]{1,256}$", description="returned as given")
    code_challenge: str = Field(pattern=r"^[A-Za-z0-9._~-]{43,128}$", description="PKCE, S256")
    code_challenge_method: Literal["S256"]


def query(model: type[Q]) -> Q:
    """The request's query parameters, validated by `model`.

    :raise ScoreboardError INVALID_REQUEST: naming the first problem.
    """
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> ScoreboardError:
    """The INVALID_REQUEST refusal for a validation error, naming its first problem."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return ScoreboardError("INVALID_REQUEST", f"{where}: {first.get('msg')}")
