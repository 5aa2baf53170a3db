"""The one write path: after a change commits, place it in the rank index, count it and publish it.

With Redis, `seq` is a Redis counter incremented in the same atomic step that updates the index
and publishes, so seq order is index order is delivery order, and no database row is contended.
Each process persists the newest seq it has seen to `board_state`; if Redis comes back empty, the
counter restarts past that by SEQ_RESTART_GAP, so seq never goes backwards. Without Redis (the
embedded mode) the seq is bumped inside the database transaction instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from app import tracing
from app.boards.stream import MAIN_STREAM, Stream
from app.models.types import UTCDateTime, utcnow
from app.scoring.board import iso
from app.scoring.ranking import RankState
from app.scoring.standings import Standings
from app.threads import join

log = logging.getLogger(__name__)

SEQ_RESTART_GAP = 1_000_000  # far more changes than can happen between two persists
_TS = UTCDateTime()
_BUMP = text(
    "UPDATE board_state SET seq = seq + 1, last_updated = CASE "
    "WHEN last_updated IS NULL OR last_updated < :now THEN :now ELSE last_updated END "
    "WHERE id = 1 RETURNING seq"
).bindparams(bindparam("now", type_=_TS))
_PERSIST = text(
    "UPDATE board_state SET seq = :seq, last_updated = :ts WHERE id = 1 AND seq < :seq"
).bindparams(bindparam("ts", type_=_TS))
_STREAM_BUMP = text(
    "INSERT INTO stream_state (board, period, seq, last_updated) VALUES (:board, :period, 1, :now)"
    " ON CONFLICT (board, period) DO UPDATE SET seq = stream_state.seq + 1, last_updated = CASE"
    " WHEN stream_state.last_updated IS NULL OR stream_state.last_updated < :now THEN :now"
    " ELSE stream_state.last_updated END RETURNING seq"
).bindparams(bindparam("now", type_=_TS))
_STREAM_PERSIST = text(
    "INSERT INTO stream_state (board, period, seq, last_updated) VALUES (:board, :period, :seq, :ts)"
    " ON CONFLICT (board, period) DO UPDATE SET seq = :seq, last_updated = :ts"
    " WHERE stream_state.seq < :seq"
).bindparams(bindparam("ts", type_=_TS))


@dataclass(frozen=True, slots=True)
class Placement:
    previous_rank: int | None
    rank: int | None
    total: int
    seq: int | None = None


def bump_seq(conn: Connection, now: datetime, stream: Stream = MAIN_STREAM) -> int:
    """Take the stream's next seq inside the caller's transaction (embedded mode; run it last)."""
    if stream.is_main:
        return int(conn.execute(_BUMP, {"now": now}).scalar_one())
    args = {"board": stream.board, "period": stream.period.value, "now": now}
    return int(conn.execute(_STREAM_BUMP, args).scalar_one())


def encode_envelope(placement: Placement, event: dict[str, Any], stream: Stream = MAIN_STREAM) -> bytes:
    """The broker message: `prev|rank|total|seq|` then the JSON event (0 or - when none); a stream
    other than main's all-time one is named first, as `@board/period/key|`."""
    seq = placement.seq if placement.seq is not None else "-"
    head = f"{placement.previous_rank or 0}|{placement.rank or 0}|{placement.total}|{seq}|"
    if not stream.is_main:
        head = f"@{stream.tag}|{head}"
    return head.encode() + orjson.dumps(event)


def stream_of(message: bytes) -> tuple[str | None, bytes]:
    """The stream tag a broker message names (None: main's all-time stream) and the rest of it."""
    if message[:1] != b"@":
        return None, message
    tag, rest = message[1:].split(b"|", 1)
    return tag.decode(), rest


def decode_envelope(message: bytes) -> tuple[Placement, dict[str, Any]]:
    """The placement and event of a broker message (the header's seq wins)."""
    prev, rank, total, seq, body = message.split(b"|", 4)
    event = orjson.loads(body)
    if seq != b"-":
        event["seq"] = int(seq)
    placement = Placement(int(prev) or None, int(rank) or None, int(total), event.get("seq"))
    return placement, event


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
    """Announces committed changes; repairs and rebuilds the index when Redis lost updates."""

    def __init__(self, standings: Standings, broker: Any, channel: str):
        self.standings = standings
        self.stream = standings.stream
        self.broker = broker
        self.channel = channel
        self._unsynced: set[int] = set()
        self._rebuild_lock = threading.Lock()
        self._rebuilder: threading.Thread | None = None
        # this process's own change, with its seq, as soon as it is counted
        self.on_local: Callable[[dict[str, Any], int], None] = lambda event, seq: None
        self.seen: Callable[[], int] = lambda: 0  # the newest seq this process has seen
        standings.on_not_ready = self.rebuild_soon

    @property
    def seq_in_database(self) -> bool:
        """True in the embedded mode: the transaction itself takes the seq."""
        return self.standings.index is None

    def publish(
        self, state: RankState, event: dict[str, Any], bump: bool, previous_rank: int | None = None
    ) -> Placement:
        """Place, count and announce a committed change; returns the player's ranks.

        `previous_rank` is used when ranks come from the database (read before the change).
        """
        return publish_all([Publish(self, state, event, bump, previous_rank)])[0]

    def _placed(self, p: Publish, result: Any) -> Placement | None:
        """The placement from the index's answer; None: Redis failed (the database answers)."""
        if isinstance(result, RedisError):
            self.standings.health.failed(result)
            return None
        if isinstance(result, BaseException):
            raise result
        index = self.standings.index
        assert index is not None
        placement = Placement(*index.parse_apply(result))
        if placement.seq is None:  # Redis restarted empty: rebuild, then announce
            self._unsynced.add(p.state.user_id)
            self.rebuild_soon()
        elif p.bump:  # read-your-writes here; the broker's copy arrives as a repeat
            self.on_local(p.event, placement.seq)
        return placement

    def _without_index(self, p: Publish) -> Placement:
        """Ranks from the database, the change published through the broker."""
        if self.standings.index is not None:
            self._unsynced.add(p.state.user_id)
        with tracing.span("rank index"):
            placement = self._db_placement(p.state, p.previous_rank, p.event.get("seq"))
        try:
            self.broker.publish(encode_envelope(placement, p.event, self.stream), channel=self.channel)
        except RedisError as exc:
            log.warning("change not published: %s", exc)
        return placement

    def repair(self) -> None:
        """After a Redis outage: rebuild a lost index, else re-place players whose updates failed."""
        index = self.standings.index
        if index is None:
            return
        try:
            if not index.is_ready() or index.seq_state() is None:  # (Redis answers: it is back)
                self.rebuild()
                return
            self.standings.health.recovered()  # the re-placements below go to the index
            while self._unsynced:
                self._replace(self._unsynced.pop())
        except RedisError as exc:
            self.standings.health.failed(exc)

    def rebuild(self, force: bool = False) -> int:
        """Load every player into the index from the database, then announce it; returns players.

        Unless forced, does nothing when another process has just rebuilt it.
        """
        index = self.standings.index
        if index is None:
            return 0
        with self._rebuild_lock:
            lock_key = f"{index.zset}:rebuilding"
            if not index.redis.set(lock_key, 1, nx=True, ex=60):
                return 0  # another process is rebuilding
            try:
                if not force and index.is_ready() and index.seq_state() is not None:
                    return 0
                seq, ts = self.standings.database_state()
                seq = max(seq, self.seen())  # newer than anything persisted or seen here
                with self.standings.engine.connect() as conn:
                    count = index.rebuild(self.standings.db.states(conn))
                index.seed_seq(seq + SEQ_RESTART_GAP, iso(ts) or "")
                self.persist(seq + SEQ_RESTART_GAP, ts)  # a second restart starts past this one
                self._unsynced.clear()
                self.announce("rebuild")
            finally:
                index.redis.delete(lock_key)
        log.info("rank index rebuilt from the database: %d players", count)
        return count

    def rebuild_soon(self) -> None:
        """Rebuild in the background (a reader found the index missing)."""
        if self._rebuilder is None or not self._rebuilder.is_alive():
            self._rebuilder = threading.Thread(target=self._safe_rebuild, daemon=True)
            self._rebuilder.start()

    def wait(self, timeout: float = 10.0) -> None:
        join(self._rebuilder, timeout)

    def announce(self, kind: str) -> None:
        """Count one board change with no player attached, so every process reloads the board."""
        index = self.standings.index
        if index is None:  # the embedded mode: the database counts
            with self.standings.engine.begin() as conn:
                seq = self.bump(conn, utcnow())
        else:
            seq = index.redis.incr(index.seq_key)
        event = {"kind": kind, "seq": seq, "ts": None}
        message = encode_envelope(Placement(None, None, 0, seq), event, self.stream)
        if index is None:
            self.broker.publish(message, channel=self.channel)
        else:
            index.redis.publish(self.channel, message)

    def bump(self, conn: Connection, now: datetime) -> int:
        """Take this stream's next seq inside the caller's transaction (embedded mode)."""
        return bump_seq(conn, now, self.stream)

    def persist(self, seq: int, ts: datetime | None) -> None:
        """Record the newest seq in the database (it outlives Redis)."""
        with self.standings.engine.begin() as conn:
            if self.stream.is_main:
                conn.execute(_PERSIST, {"seq": seq, "ts": ts})
            else:
                args = {"board": self.stream.board, "period": self.stream.period.value}
                conn.execute(_STREAM_PERSIST, {**args, "seq": seq, "ts": ts})

    def _replace(self, user_id: int) -> None:
        with self.standings.engine.connect() as conn:
            found = self.standings.db.state_of(conn, user_id)
        if found is None:
            return
        state, names = found
        self.publish(state, change_event("repair", state, names, None, utcnow()), bump=True)

    def _safe_rebuild(self) -> None:
        try:
            self.rebuild()
        except Exception:
            log.exception("rank index rebuild failed")

    def _db_placement(self, state: RankState, previous_rank: int | None, seq: int | None) -> Placement:
        db = self.standings.db
        with self.standings.engine.connect() as conn:
            total = db.total(conn)
            rank = None
            if state.ranked and state.updated_at is not None:
                rank = db.rank_of(conn, state.user_id, state.score, state.updated_at)
        return Placement(previous_rank, rank, total, seq)


@dataclass(frozen=True, slots=True)
class Publish:
    """One stream's share of a committed change."""

    writer: BoardWriter
    state: RankState
    event: dict[str, Any]
    bump: bool
    previous_rank: int | None = None


def publish_all(items: list[Publish]) -> list[Placement]:
    """Place, count and announce one change on each of its streams: every rank index in one
    Redis round trip (their writers share one placer), the database for any without."""
    with tracing.span("publish"):
        return _publish_all(items)


def _publish_all(items: list[Publish]) -> list[Placement]:
    placements: list[Placement | None] = [None] * len(items)
    indexed = [i for i, p in enumerate(items) if p.writer.standings.uses_index]
    if indexed:
        calls = []
        for i in indexed:
            p = items[i]
            index = p.writer.standings.index
            assert index is not None
            calls.append(index.call(p.state, p.writer.channel, orjson.dumps(p.event), p.bump, p.event["ts"]))
        placer = items[indexed[0]].writer.standings.index.placer  # type: ignore[union-attr]
        try:
            with tracing.span("rank index"):
                results = placer.many(calls)
        except RedisError as exc:
            results = [exc] * len(calls)
        for i, result in zip(indexed, results, strict=True):
            placements[i] = items[i].writer._placed(items[i], result)
    return [placement or p.writer._without_index(p) for placement, p in zip(placements, items, strict=True)]


def start_persisting(
    writer: BoardWriter,
    board: Any,
    stopped: threading.Event,
    also: Callable[[], None] = lambda: None,
    every: float = 1.0,
) -> threading.Thread:
    """Persist the newest seq this process has seen, once a second (Redis mode); `also` does the
    same for the other streams."""

    def run() -> None:
        done = 0
        while not stopped.wait(every):
            try:
                if board.seq > done:
                    writer.persist(board.seq, board.last_updated)
                    done = board.seq
                also()
            except Exception:
                log.exception("could not persist seq %s", board.seq)

    thread = threading.Thread(target=run, name="seq-persist", daemon=True)
    thread.start()
    return thread
