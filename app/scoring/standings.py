"""Reading the ranking: the Redis index when it is ready and reachable, else the database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.models.types import UTCDateTime
from app.scoring.ranking import DbRanking, RankIndex, RankState, Standing

log = logging.getLogger(__name__)

_STATE = text("SELECT seq, last_updated FROM board_state WHERE id = 1").columns(last_updated=UTCDateTime())
_ONE_STATE = text(
    "SELECT id, rank_version, score, score_updated_at, "
    "CASE WHEN score_updated_at IS NOT NULL AND NOT is_banned AND NOT is_hidden THEN 1 ELSE 0 END "
    "FROM users WHERE id = :uid"
).columns(score_updated_at=UTCDateTime())


class RedisHealth:
    """A small circuit breaker: after a failure, skip Redis for `cooldown` seconds."""

    def __init__(self, cooldown: float = 1.0):
        self.cooldown = cooldown
        self._down_until = 0.0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: Exception) -> None:
        if self.up:
            log.warning("redis unavailable (%s); using the database", exc)
        self._down_until = time.monotonic() + self.cooldown


class Standings:
    """Top pages and single ranks, from the index or the database, identical either way."""

    def __init__(self, engine: Engine, index: RankIndex | None, health: RedisHealth):
        self.engine = engine
        self.index = index
        self.health = health
        self.db = DbRanking()
        self._unsynced: set[int] = set()
        self._rebuild_lock = threading.Lock()
        self._rebuilder: threading.Thread | None = None
        self.on_rebuilt: list[Callable[[], None]] = []

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
        """The deployment's seq and last_updated, from the database."""
        with self.engine.connect() as conn:
            row = conn.execute(_STATE).first()
        return (row[0], row[1]) if row else (0, None)

    def mark_unsynced(self, user_id: int) -> None:
        """Remember a player whose index update failed, to repair when Redis is back."""
        self._unsynced.add(user_id)

    def repair(self) -> None:
        """Rebuild the index if Redis lost it, else re-apply players whose updates failed."""
        if self.index is None:
            return
        try:
            if not self.index.is_ready():
                self.rebuild()
                return
            while self._unsynced:
                uid = self._unsynced.pop()
                with self.engine.connect() as conn:
                    row = conn.execute(_ONE_STATE, {"uid": uid}).first()
                if row is not None:
                    self.index.apply(RankState(row[0], row[1], bool(row[4]), row[2], row[3]))
        except RedisError as exc:
            self.health.failed(exc)

    def rebuild(self) -> int:
        """Load every player's state from the database into the index; returns players applied."""
        if self.index is None:
            return 0
        with self._rebuild_lock:
            lock = self.index.redis.set(f"{self.index.zset}:rebuilding", 1, nx=True, ex=60)
            if not lock:
                return 0
            try:
                with self.engine.connect() as conn:
                    count = self.index.rebuild(self.db.states(conn))
                self._unsynced.clear()
            finally:
                self.index.redis.delete(f"{self.index.zset}:rebuilding")
        log.info("rank index rebuilt from the database: %d players", count)
        for callback in self.on_rebuilt:
            callback()
        return count

    def _index_ready(self) -> bool:
        try:
            if self.index.is_ready():  # type: ignore[union-attr]
                return True
        except RedisError as exc:
            self.health.failed(exc)
            return False
        if self._rebuilder is None or not self._rebuilder.is_alive():
            self._rebuilder = threading.Thread(target=self._safe_rebuild, daemon=True)
            self._rebuilder.start()
        return False

    def wait_for_rebuild(self, timeout: float = 10.0) -> None:
        """Wait for a background rebuild to finish (shutdown, tests)."""
        if self._rebuilder is not None:
            self._rebuilder.join(timeout)

    def _safe_rebuild(self) -> None:
        try:
            self.rebuild()
        except Exception:
            log.exception("rank index rebuild failed")
