"""Reading the player a submit checks; on PostgreSQL the reads of concurrent submits share one
statement, handed to psycopg as written (no statement compiling or type processing).

Writes are the ledger's (`app/scoring/ledger.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.batch import Batcher
from app.models.types import UTCDateTime

_TS = UTCDateTime()


class Player(NamedTuple):
    """The columns of a player the pipeline checks."""

    id: int
    username: str
    display_name: str
    score: int
    score_updated_at: datetime | None
    is_banned: bool
    banned_until: datetime | None
    suspended_until: datetime | None
    is_flagged: bool
    is_hidden: bool
    is_deleted: bool
    penalty_level: int

    @property
    def ranked(self) -> bool:
        return self.score_updated_at is not None and not self.is_banned and not self.is_hidden


_COLUMNS = ", ".join(Player._fields)
_PLAYER = text(f"SELECT {_COLUMNS} FROM users WHERE id = :uid").columns(
    score_updated_at=_TS, banned_until=_TS, suspended_until=_TS
)
_PLAYERS_PG = f"SELECT {_COLUMNS} FROM users WHERE id = ANY(%(ids)s)"


class PlayerStore:
    """Reads players for the scoring pipeline (batched on PostgreSQL)."""

    def __init__(self, engine: Engine, batched: bool):
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.batched = batched
        self._read: Batcher[int, Player | None] = Batcher(self._players)

    def player(self, user_id: int) -> Player | None:
        """The player with this id, or None."""
        if self.batched:
            return self._read(user_id)
        with self.autocommit.connect() as conn:
            row = conn.execute(_PLAYER, {"uid": user_id}).first()
        return Player(*row) if row is not None else None

    def _players(self, ids: list[int]) -> list[Player | None]:
        with self.autocommit.connect() as conn:
            rows = {r[0]: Player(*r) for r in conn.exec_driver_sql(_PLAYERS_PG, {"ids": ids})}
        return [rows.get(i) for i in ids]
