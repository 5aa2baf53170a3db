"""The one write path: after a ranking change commits, place it in the index and publish it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from app.models.types import UTCDateTime
from app.scoring.board import iso
from app.scoring.ranking import RankState
from app.scoring.standings import Standings

log = logging.getLogger(__name__)

_BUMP = text(
    "UPDATE board_state SET seq = seq + 1, last_updated = CASE "
    "WHEN last_updated IS NULL OR last_updated < :now THEN :now ELSE last_updated END "
    "WHERE id = 1 RETURNING seq"
).bindparams(bindparam("now", type_=UTCDateTime()))


@dataclass(frozen=True, slots=True)
class Placement:
    previous_rank: int | None
    rank: int | None
    total: int


def bump_seq(conn: Connection, now: datetime) -> int:
    """Take the next seq inside the caller's transaction (run it last: it holds a row lock)."""
    return int(conn.execute(_BUMP, {"now": now}).scalar_one())


def encode_envelope(placement: Placement, event: dict[str, Any]) -> bytes:
    """The broker message: `prev|rank|total|` then the JSON event (ranks 0 when none)."""
    head = f"{placement.previous_rank or 0}|{placement.rank or 0}|{placement.total}|"
    return head.encode() + orjson.dumps(event)


def decode_envelope(message: bytes) -> tuple[Placement, dict[str, Any]]:
    """The placement and event of a broker message."""
    prev, rank, total, body = message.split(b"|", 3)
    placement = Placement(int(prev) or None, int(rank) or None, int(total))
    return placement, orjson.loads(body)


def change_event(
    kind: str, state: RankState, names: tuple[str, str], seq: int | None, now: datetime, **extra: Any
) -> dict[str, Any]:
    """The event published for one player's change."""
    return {
        "kind": kind,
        "seq": seq,
        "ts": now.isoformat(),
        "user": {
            "user_id": state.user_id,
            "username": names[0],
            "display_name": names[1],
            "score": state.score,
            "ranked": state.ranked,
            "updated_at": iso(state.updated_at),
        },
        **extra,
    }


class BoardWriter:
    """Index update and publish in one atomic Redis step; database ranks when Redis is away."""

    def __init__(self, standings: Standings, broker, channel: str):  # type: ignore[no-untyped-def]
        self.standings = standings
        self.broker = broker
        self.channel = channel

    def publish(self, state: RankState, event: dict[str, Any], previous_rank: int | None = None) -> Placement:
        """Place the committed state and announce it; returns the player's ranks.

        `previous_rank` is used when ranks come from the database (read before the change).
        """
        index = self.standings.index
        if index is not None and self.standings.health.up:
            try:
                body = orjson.dumps(event)
                result = index.apply(state, self.channel, body)
                return Placement(*index.parse_apply(result))
            except RedisError as exc:
                self.standings.health.failed(exc)
        if index is not None:
            self.standings.mark_unsynced(state.user_id)
        placement = self._db_placement(state, previous_rank)
        try:
            self.broker.publish(encode_envelope(placement, event))
        except RedisError as exc:
            log.warning("change %s not published: %s", event.get("seq"), exc)
        return placement

    def _db_placement(self, state: RankState, previous_rank: int | None) -> Placement:
        db = self.standings.db
        with self.standings.engine.connect() as conn:
            total = int(conn.execute(db.TOTAL).scalar_one())
            rank = None
            if state.ranked and state.updated_at is not None:
                rank = db.rank_of(conn, state.user_id, state.score, state.updated_at)
        return Placement(previous_rank, rank, total)
