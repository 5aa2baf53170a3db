"""Request bodies: strict types, unknown fields refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterIn(Strict):
    username: str = Field(max_length=32)
    email: str = Field(max_length=254)  # only OAuth-only accounts go without one
    password: str = Field(max_length=128)


class LoginIn(Strict):
    username: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")  # what a username can be
    password: str = Field(max_length=128)


class ActionTokenIn(Strict):
    action_type: str = Field(max_length=64)


class ScoreIn(Strict):
    action_token: str = Field(max_length=512)


class MePatch(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    is_hidden: bool | None = None


def _visible(text: str) -> str:
    """Whitespace runs become one space; what is left must be visible text."""
    text = " ".join(text.split())
    if not text or not text.isprintable():
        raise ValueError("must be visible text")
    return text


class ReasonIn(Strict):
    reason: Annotated[str, Field(max_length=500), AfterValidator(_visible)]


class BanIn(ReasonIn):
    duration_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 86400)


class AdjustIn(ReasonIn):
    points: int = Field(ge=-(10**12), le=10**12)


class ResolveIn(ReasonIn):
    resolution: Literal["cleared", "confirmed"]
