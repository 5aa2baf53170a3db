"""Request bodies: strict types, unknown fields refused, every rule the server applies stated.

The OpenAPI document is generated from these models, so each constraint here (lengths,
patterns, bounds, enums) is both what the server enforces and what the document says.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app import text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _tidy(value: str) -> str:
    """Whitespace runs become one space (the pattern already required a visible character)."""
    return text.tidy(value)


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
    action_type: str = Field(max_length=64, description="an action type of the catalog")


class ScoreIn(Strict):
    action_token: str = Field(max_length=512, description="a token from POST /api/v1/actions/token")


class MePatch(Strict):
    display_name: Annotated[Visible, Field(min_length=1, max_length=64)] | None = None
    is_hidden: bool | None = None


class ReasonIn(Strict):
    reason: Annotated[Visible, Field(min_length=1, max_length=500)]


class BanIn(ReasonIn):
    duration_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 86400)


class AdjustIn(ReasonIn):
    points: int = Field(ge=-(10**12), le=10**12)


class ResolveIn(ReasonIn):
    resolution: Literal["cleared", "confirmed"]


class TokenForm(BaseModel):
    """The form of POST /oauth/token (RFC 6749 §4.1.3, §6); Authlib's server reads it."""

    model_config = ConfigDict(extra="allow")
    grant_type: Literal["refresh_token", "authorization_code"]
    client_id: str | None = Field(default=None, max_length=48)
    client_secret: str | None = None
    refresh_token: str | None = Field(default=None, description="grant_type=refresh_token")
    scope: str | None = Field(default=None, description="narrower than the refresh token's")
    code: str | None = Field(default=None, description="grant_type=authorization_code")
    code_verifier: str | None = Field(default=None, description="PKCE")
    redirect_uri: str | None = None


class RevokeForm(BaseModel):
    """The form of POST /oauth/revoke (RFC 7009 §2.1)."""

    model_config = ConfigDict(extra="allow")
    token: str
    token_type_hint: str | None = Field(default=None, description="access_token or refresh_token")
    client_id: str | None = Field(default=None, max_length=48)
    client_secret: str | None = None


class ConsentForm(BaseModel):
    """The consent page's answer (POST /oauth/authorize)."""

    decision: Literal["allow", "deny"]
    csrf_token: str
