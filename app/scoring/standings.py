"""Reading the ranking: the Redis index when it is ready and reachable, else the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.boards.stream import MAIN_STREAM, Stream
from app.models.types import UTCDateTime
from app.scoring.ranking import DbRanking, RankIndex, Standing

log = logging.getLogger(__name__)

_STATE = text("SELECT seq, last_updated FROM board_state WHERE id = 1").columns(last_updated=UTCDateTime())
_STREAM_STATE = text(
    "SELECT seq, last_updated FROM stream_state WHERE board = :board AND period = :period"
).columns(last_updated=UTCDateTime())


class RedisHealth:
    """A small circuit breaker: after a failure, skip Redis for `cooldown` seconds."""

    def __init__(self, cooldown: float = 1.0):
        self.cooldown = cooldown
        self._down_until = 0.0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def recovered(self) -> None:
        """Redis answered again (the broker reconnected): use it at once."""
        self._down_until = 0.0

    def failed(self, exc: Exception) -> None:
        if self.up:
            log.warning("redis unavailable (%s); using the database", exc)
        self._down_until = time.monotonic() + self.cooldown


class Standings:
    """Top pages and single ranks, from the index or the database, identical either way."""

    def __init__(
        self, engine: Engine, index: RankIndex | None, health: RedisHealth, stream: Stream = MAIN_STREAM
    ):
        self.engine = engine
        self.index = index
        self.health = health
        self.stream = stream
        self.db = DbRanking(stream)
        self.on_not_ready: Callable[[], None] = lambda: None

    @property
    def uses_index(self) -> bool:
        return self.index is not None and self.health.up

    def top(self, limit: int, offset: int = 0) -> tuple[list[Standing], int]:
        """Ranks offset+1 … offset+limit and the number of ranked players."""
        if self.uses_index and self._index_ready():
            try:
                return self.index.top(limit, offset)  # type: ignore[union-attr]
            except RedisError as exc:
                self.health.failed(exc)
        with self.engine.connect() as conn:
            return self.db.top(conn, limit, offset)

    def rank(self, user_id: int) -> tuple[Standing | None, int]:
        """One player's standing (None if not ranked) and the number of ranked players."""
        if self.uses_index and self._index_ready():
            try:
                return self.index.rank(user_id)  # type: ignore[union-attr]
            except RedisError as exc:
                self.health.failed(exc)
        with self.engine.connect() as conn:
            return self.db.rank(conn, user_id)

    def rank_of(self, user_id: int, score: int, ts: datetime) -> int:
        """The rank a player would hold with this score and time, from the database."""
        with self.engine.connect() as conn:
            return self.db.rank_of(conn, user_id, score, ts)

    def board_state(self) -> tuple[int, datetime | None]:
        """The deployment's seq and last_updated: the Redis counter, else the database."""
        if self.uses_index:
            try:
                state = self.index.seq_state()  # type: ignore[union-attr]
                if state is not None:
                    return state[0], datetime.fromisoformat(state[1]) if state[1] else None
            except RedisError as exc:
                self.health.failed(exc)
        return self.database_state()

    def redis_state(self) -> tuple[int, datetime | None]:
        """The seq and last_updated from Redis itself, whatever the circuit breaker says.

        :raise RedisError: Redis is unreachable or has lost the counter.
        """
        assert self.index is not None
        state = self.index.seq_state()
        if state is None:
            raise RedisError("the board counter is gone (Redis restarted); a rebuild will restore it")
        return state[0], datetime.fromisoformat(state[1]) if state[1] else None

    def database_state(self) -> tuple[int, datetime | None]:
        with self.engine.connect() as conn:
            if self.stream.is_main:
                row = conn.execute(_STATE).first()
            else:
                args = {"board": self.stream.board, "period": self.stream.period.value}
                row = conn.execute(_STREAM_STATE, args).first()
        return (row[0], row[1]) if row else (0, None)

    def _index_ready(self) -> bool:
        try:
            if self.index.is_ready():  # type: ignore[union-attr]
                return True
        except RedisError as exc:
            self.health.failed(exc)
            return False
        self.on_not_ready()
        return False
