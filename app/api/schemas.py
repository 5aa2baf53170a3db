"""Request bodies: strict types, unknown fields refused, every rule the server applies stated.

The OpenAPI document is generated from these models, so each constraint here (lengths,
patterns, bounds, enums) is both what the server enforces and what the document says.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from app import text
from app.boards.periods import zone_names
from app.boards.registry import SLUG, TITLE_MAX
from app.scoring.catalog import ACTION_TYPE_RE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _tidy(value: str) -> str:
    """Whitespace runs become one space (the pattern already required a visible character)."""
    return text.tidy(value)


def _whole(value: object) -> object:
    """A JSON number with no fraction (`5.0`) as the integer it is (JSON Schema's "integer")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After the bounds, so that they stay in the schema as minimum/maximum.
WHOLE = BeforeValidator(_whole)

# Free text a person reads: visible characters, at least one that is not a space.
Visible = Annotated[str, Field(pattern=text.SOME_VISIBLE), AfterValidator(_tidy)]


class RegisterIn(Strict):
    username: str = Field(pattern=text.USERNAME, description="3–32 letters, digits, _ . -")
    email: str = Field(max_length=254, pattern=text.EMAIL)  # only OAuth-only accounts go without one
    password: str = Field(min_length=8, max_length=128)


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(max_length=128)


class ActionTokenIn(Strict):
    action_type: str = Field(max_length=64, description="an action type of the board's catalog")
    board: str = Field(default="main", pattern=SLUG, description="the board it scores on (404 if unknown)")


class ScoreIn(Strict):
    action_token: str = Field(max_length=512, description="a token from POST /api/v1/actions/token")


class MePatch(Strict):
    display_name: Annotated[Visible, Field(min_length=1, max_length=64)] | None = None
    is_hidden: bool | None = None


class ReasonIn(Strict):
    reason: Annotated[Visible, Field(min_length=1, max_length=500)]


class BanIn(ReasonIn):
    duration_seconds: Annotated[int, Field(ge=1, le=10 * 365 * 86400), WHOLE] | None = None


class BoardReasonIn(ReasonIn):
    board: str = Field(default="main", pattern=SLUG, description="the board (404 if unknown)")


class AdjustIn(BoardReasonIn):
    points: Annotated[int, Field(ge=-(10**12), le=10**12), WHOLE]


class ResolveIn(ReasonIn):
    resolution: Literal["cleared", "confirmed"]


class ActionRuleIn(Strict):
    """One action type of a board's catalog (the ACTION_CATALOG shape)."""

    points: Annotated[int, Field(ge=-(10**6), le=10**6), WHOLE]
    cooldown_seconds: Annotated[int, Field(ge=0, le=86400), WHOLE] = 0
    max_per_hour: Annotated[int, Field(ge=0, le=10**6, description="0: no hourly cap"), WHOLE] = 0


ActionType = Annotated[str, Field(pattern=ACTION_TYPE_RE.pattern)]
# pydantic writes the key rule as patternProperties alone: other keys must be refused in the schema too
Catalog = Annotated[
    dict[ActionType, ActionRuleIn],
    Field(min_length=1, max_length=100, json_schema_extra={"additionalProperties": False}),
]
Title = Annotated[Visible, Field(min_length=1, max_length=TITLE_MAX)]
Periods = Annotated[
    list[Literal["daily", "weekly", "monthly"]],
    Field(max_length=3, description="`all` always exists", json_schema_extra={"uniqueItems": True}),
]
Zone = Annotated[
    str,
    Field(max_length=64, description="an IANA timezone", json_schema_extra={"enum": sorted(zone_names())}),
]


class BoardIn(Strict):
    slug: str = Field(pattern=SLUG, description="1–32 of a-z, 0-9, -; never changes")
    title: Title
    catalog: Catalog
    periods: Periods = []
    timezone: Zone = "UTC"


class BoardPatch(Strict):
    """Only the fields sent change; `catalog` cannot be sent for `main` (400)."""

    title: Title | None = None
    catalog: Catalog | None = None
    periods: Periods | None = None
    timezone: Zone | None = None


# RFC 6749 §3.2 and Appendix A: unknown parameters are ignored, none may be sent twice, and
# every value is printable ASCII (VSCHAR); app/api/oauth.py checks the last two (400 invalid_request).
VSCHAR = r"^[\x20-\x7e]*$"
Param = Annotated[str, Field(pattern=VSCHAR)]
FORM = ConfigDict(
    extra="allow", json_schema_extra={"additionalProperties": {"type": "string", "pattern": VSCHAR}}
)


class TokenForm(BaseModel):
    """The form of POST /oauth/token (RFC 6749 §4.1.3, §6); Authlib's server reads it."""

    model_config = FORM
    grant_type: Literal["refresh_token", "authorization_code"]
    client_id: Param | None = Field(default=None, max_length=48)
    client_secret: Param | None = None
    refresh_token: Param | None = Field(default=None, description="grant_type=refresh_token")
    scope: Param | None = Field(default=None, description="narrower than the refresh token's")
    code: Param | None = Field(default=None, description="grant_type=authorization_code")
    code_verifier: Param | None = Field(default=None, description="PKCE")
    redirect_uri: Param | None = None


class RevokeForm(BaseModel):
    """The form of POST /oauth/revoke (RFC 7009 §2.1)."""

    model_config = FORM
    token: Param = Field(min_length=1)
    token_type_hint: Param | None = Field(default=None, description="access_token or refresh_token")
    client_id: Param | None = Field(default=None, max_length=48)
    client_secret: Param | None = None


class ConsentForm(BaseModel):
    """The consent page's answer (POST /oauth/authorize)."""

    decision: Literal["allow", "deny"]
    csrf_token: str
