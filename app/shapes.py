"""Building blocks for typed JSON bodies: TypedDicts the code that builds a body is typed with.

A TypedDict costs nothing at run time (it is a plain dict), mypy checks every body built against
it (a key added to a body but not to its type is an error), and pydantic turns it into the JSON
Schema of the OpenAPI document (app/api/openapi.py). `closed` makes that schema refuse unknown
fields, so a body that grew a field its type lacks fails the contract test too.
"""

from __future__ import annotations

from typing import (
    Annotated,
    Any,
    NotRequired,  # pydantic needs this TypedDict before 3.12
    TypeVar,
)

from pydantic import ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

__all__ = ["JSONObject", "MaybeTime", "NotRequired", "Time", "TypedDict", "closed"]

T = TypeVar("T")

# Times as app.scoring.board.iso writes them: ISO 8601 in UTC, milliseconds, Z.
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
MaybeTime = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
JSONObject = dict[str, Any]


def closed(cls: type[T]) -> type[T]:
    """Mark a TypedDict's schema as having no fields besides its own."""
    return with_config(ConfigDict(extra="forbid"))(cls)
