"""Who is calling: a plain value the domain can take without knowing about requests."""

from __future__ import annotations

from dataclasses import dataclass

SCOPE_READ = "read:leaderboard"
SCOPE_SCORE = "update:score"
SCOPE_ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    scopes: frozenset[str]
    session_id: str  # refresh-token family, or the browser login session

    def can(self, scope: str) -> bool:
        return scope in self.scopes
