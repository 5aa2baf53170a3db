"""Ranking (SPEC §4) from the Redis rank index or the database; both order players the same way.

Order: score descending, then the earlier `score_updated_at`, then the lower user id.
The Redis index keeps the exact score as the sorted-set score and encodes the tie-break in the
member, so ZREVRANGE yields the database order. Each user's entry carries `rank_version`; a
stale write never overwrites a newer one, whatever order the workers apply them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, column, text
from sqlalchemy.engine import Connection

from app.batch import Batcher, run_scripts
from app.boards.stream import MAIN_STREAM, Stream
from app.models.types import UTCDateTime
from app.models.users import RANKED_SQL

TS_MAX = 10**16  # microseconds since the epoch fit in 16 digits until year 2286
ID_MAX = 10**15


@dataclass(frozen=True, slots=True)
class Standing:
    """A ranked player's position, without names."""

    user_id: int
    score: int
    updated_at: datetime
    rank: int


@dataclass(frozen=True, slots=True)
class RankState:
    """What the index needs to place one player."""

    user_id: int
    version: int
    ranked: bool
    score: int
    updated_at: datetime | None


def _micros(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


def encode_member(updated_at: datetime, user_id: int) -> str:
    """A sorted-set member whose reverse lexical order is the tie rule."""
    return f"{TS_MAX - _micros(updated_at):016d}{ID_MAX - user_id:015d}"


def decode_member(member: str) -> tuple[int, datetime]:
    """The user id and `score_updated_at` a member encodes."""
    micros = TS_MAX - int(member[:16])
    ts = datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
    return ID_MAX - int(member[16:]), ts


APPLY_LUA = """
-- KEYS: rank zset, users hash, seq counter, last-updated time
-- ARGV: uid, version, ranked, score, member, channel, message, bump ('1'), now (ISO),
--   the message's stream prefix ('' for main's all-time stream),
--   when the index expires (unix seconds; '' for never: a period's index goes after it ends)
local function place()
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  local prev = false
  if cur then
    local sep = string.find(cur, '|', 1, true)
    local old = string.sub(cur, sep + 1)
    if tonumber(string.sub(cur, 1, sep - 1)) >= tonumber(ARGV[2]) then
      -- stale: a newer state is already placed; report where it stands
      if old ~= '' then return false, redis.call('ZREVRANK', KEYS[1], old) end
      return false, false
    end
    if old ~= '' then
      prev = redis.call('ZREVRANK', KEYS[1], old)
      redis.call('ZREM', KEYS[1], old)
    end
  end
  if ARGV[3] == '1' then
    redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. ARGV[5])
    return prev, redis.call('ZREVRANK', KEYS[1], ARGV[5])
  end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|')
  return prev, false
end
local prev, new = place()
if ARGV[11] ~= '' then
  redis.call('EXPIREAT', KEYS[1], ARGV[11])
  redis.call('EXPIREAT', KEYS[2], ARGV[11])
end
local total = redis.call('ZCARD', KEYS[1])
if redis.call('EXISTS', KEYS[3]) == 0 then
  return {prev or -1, new or -1, total, -1}  -- counter lost (Redis restarted): rebuild first
end
local seq = tonumber(redis.call('GET', KEYS[3]))
local head_seq = '-'
if ARGV[8] == '1' then
  seq = redis.call('INCR', KEYS[3])
  redis.call('SET', KEYS[4], ARGV[9])
  head_seq = seq
end
if ARGV[7] ~= '' then
  local head = (prev and prev + 1 or 0) .. '|' .. (new and new + 1 or 0) .. '|' .. total .. '|' .. head_seq
  redis.call('PUBLISH', ARGV[6], ARGV[10] .. head .. '|' .. ARGV[7])
end
return {prev or -1, new or -1, total, seq}
"""


class RankIndex:
    """The Redis sorted set of ranked players, shared by every process."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        redis,
        namespace: str,
        stream: Stream = MAIN_STREAM,
        expires: datetime | None = None,
        placer: Batcher[tuple[Any, list[str], list[Any]], Any] | None = None,
    ):
        self.redis = redis
        self.expires = "" if expires is None else str(int(expires.timestamp()))
        if stream.is_main:  # the names from before boards
            self.zset = f"{namespace}:rank"
            self.seq_key = f"{namespace}:board:seq"
            self.ts_key = f"{namespace}:board:ts"
        else:  # one index per period key; one counter per (board, period), across its keys
            self.zset = f"{namespace}:rank:{stream.board}:{stream.key}"
            self.seq_key = f"{namespace}:seq:{stream.name}"
            self.ts_key = f"{namespace}:ts:{stream.name}"
        self.users = f"{self.zset}:users"
        self.ready_key = f"{self.zset}:ready"
        self.prefix = "" if stream.is_main else f"@{stream.tag}|"  # see `encode_envelope`
        self._apply = redis.register_script(APPLY_LUA)
        # placements of every index share one batcher: one pipeline for a change's streams
        self.placer: Batcher[tuple[Any, list[str], list[Any]], Any] = placer or Batcher(
            lambda calls: run_scripts(redis, calls)
        )

    def apply(self, state: RankState, pipe=None):  # type: ignore[no-untyped-def]
        """Place one player (version-guarded), uncounted and unannounced: for rebuilds."""
        keys, args = self._call(state, "", b"", False, "")
        return self._apply(keys=keys, args=args, client=pipe or self.redis)

    def place(
        self, state: RankState, channel: str, message: bytes, bump: bool, now: str
    ) -> tuple[int, int, int, int]:
        """Place one player, count a board change (`bump`) and publish, in one atomic step; in
        one pipeline with concurrent callers' placements. The raw result (see `parse_apply`).

        :raise RedisError: Redis is unavailable.
        """
        return self.placer(self.call(state, channel, message, bump, now))

    def call(
        self, state: RankState, channel: str, message: bytes, bump: bool, now: str
    ) -> tuple[Any, list[str], list[Any]]:
        """The script call `place` runs, for a caller placing several streams at once."""
        return (self._apply, *self._call(state, channel, message, bump, now))

    def _call(
        self, state: RankState, channel: str, message: bytes, bump: bool, now: str
    ) -> tuple[list[str], list[Any]]:
        member = encode_member(state.updated_at, state.user_id) if state.ranked else ""  # type: ignore[arg-type]
        args = [
            state.user_id,
            state.version,
            int(state.ranked),
            state.score,
            member,
            channel,
            message,
            "1" if bump else "0",
            now,
            self.prefix,
            self.expires,
        ]
        return [self.zset, self.users, self.seq_key, self.ts_key], args

    @staticmethod
    def parse_apply(result: Sequence[int]) -> tuple[int | None, int | None, int, int | None]:
        """(previous rank, new rank, total, seq) from an apply; ranks 1-based; seq None: not counted."""
        prev, new, total, seq = (int(x) for x in result)
        return (
            (prev + 1 if prev >= 0 else None),
            (new + 1 if new >= 0 else None),
            total,
            (seq if seq >= 0 else None),
        )

    def seq_state(self) -> tuple[int, str] | None:
        """The board's seq and last-updated time, or None if Redis lost them."""
        seq, ts = self.redis.mget(self.seq_key, self.ts_key)
        return (int(seq), ts.decode() if ts else "") if seq is not None else None

    def seed_seq(self, seq: int, ts: str) -> None:
        """Start the counter at `seq` unless it is already counting."""
        self.redis.set(self.seq_key, seq, nx=True)
        if ts:
            self.redis.set(self.ts_key, ts, nx=True)

    def is_ready(self) -> bool:
        return bool(self.redis.exists(self.ready_key))

    def top(self, limit: int, offset: int = 0) -> tuple[list[Standing], int]:
        """The standings at ranks offset+1 … offset+limit, and the number of ranked players."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrevrange(self.zset, offset, offset + limit - 1, withscores=True)
        pipe.zcard(self.zset)
        rows, total = pipe.execute()
        return [self._standing(m, s, offset + i + 1) for i, (m, s) in enumerate(rows)], total

    def rank(self, user_id: int) -> tuple[Standing | None, int]:
        """One player's standing (None if not ranked) and the number of ranked players."""
        cur = self.redis.hget(self.users, user_id)
        member = cur.decode().split("|", 1)[1] if cur else ""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrevrank(self.zset, member or "-")
        pipe.zscore(self.zset, member or "-")
        pipe.zcard(self.zset)
        rank, score, total = pipe.execute()
        if not member or rank is None:
            return None, total
        return self._standing(member.encode(), score, rank + 1), total

    def rebuild(self, states: Iterable[RankState], batch: int = 1000) -> int:
        """Apply every player's state (version-guarded) and mark the index ready."""
        count, pipe = 0, self.redis.pipeline(transaction=False)
        for state in states:
            self.apply(state, pipe=pipe)  # no message, no bump: a rebuild is announced once, after
            count += 1
            if count % batch == 0:
                pipe.execute()
        pipe.set(self.ready_key, 1)
        if self.expires:
            pipe.expireat(self.ready_key, int(self.expires))
        pipe.execute()
        return count

    def clear(self) -> None:
        self.redis.delete(self.zset, self.users, self.ready_key)

    @staticmethod
    def _standing(member: bytes, score: float, rank: int) -> Standing:
        uid, ts = decode_member(member.decode())
        return Standing(uid, int(score), ts, rank)


_TS = UTCDateTime()
_RANKED = f"WHERE {RANKED_SQL}"
_AHEAD = (
    f"SELECT count(*) FROM users {_RANKED} AND (score > :score OR (score = :score AND "
    "(score_updated_at < :ts OR (score_updated_at = :ts AND id < :uid))))"
)
# a (board, period key) other than main's all-time: its rows, of players not banned or hidden
_ROWS = (
    "board_scores s JOIN users u ON u.id = s.user_id"
    " WHERE s.board = :board AND s.period_key = :key AND NOT u.is_banned AND NOT u.is_hidden"
)
_STREAM_AHEAD = (
    f"SELECT count(*) FROM {_ROWS} AND (s.score > :score OR (s.score = :score AND "
    "(s.score_updated_at < :ts OR (s.score_updated_at = :ts AND s.user_id < :uid))))"
)


class DbRanking:
    """The same ranking straight from the database (embedded mode, Redis unavailable, or a past
    period), for one stream."""

    def __init__(self, stream: Stream = MAIN_STREAM):
        self.params: dict[str, str] = {}
        if stream.is_main:
            rows, uid, score, at = f"users {_RANKED}", "id", "score", "score_updated_at"
            ahead, ranked = _AHEAD, f"CASE WHEN {RANKED_SQL} THEN 1 ELSE 0 END"
            every = "users"
        else:
            self.params = {"board": stream.board, "key": stream.key}
            rows, uid, score, at = _ROWS, "s.user_id", "s.score", "s.score_updated_at"
            ahead, ranked = _STREAM_AHEAD, "CASE WHEN NOT u.is_banned AND NOT u.is_hidden THEN 1 ELSE 0 END"
            every = (
                "board_scores s JOIN users u ON u.id = s.user_id"
                " WHERE s.board = :board AND s.period_key = :key"
            )
        version = "rank_version" if stream.is_main else "u.rank_version"
        self.TOP = text(
            f"SELECT {uid}, {score}, {at} FROM {rows} "
            f"ORDER BY {score} DESC, {at} ASC, {uid} ASC LIMIT :limit OFFSET :offset"
        ).columns(column(uid), column(score), column(at, _TS))
        self.TOTAL = text(f"SELECT count(*) FROM {rows}")
        self.AHEAD = text(ahead).bindparams(bindparam("ts", type_=_TS))
        self.ME = text(f"SELECT {uid}, {score}, {at} FROM {rows} AND {uid} = :uid").columns(
            column(uid), column(score), column(at, _TS)
        )
        self.STATES = text(
            f"SELECT {uid}, {version}, {score}, {at}, {ranked} AS ranked FROM {every}"
        ).columns(column(uid), column(version), column(score), column(at, _TS), column("ranked"))
        self.NEWEST = text(f"SELECT max({at}) AS newest FROM {rows}").columns(column("newest", _TS))
        if stream.is_main:
            one = (
                "SELECT id, rank_version, score, score_updated_at, "
                f"CASE WHEN {RANKED_SQL} THEN 1 ELSE 0 END, username, display_name FROM users WHERE id = :uid"
            )
        else:
            one = (
                "SELECT u.id, u.rank_version, coalesce(s.score, 0), s.score_updated_at,"
                " CASE WHEN s.user_id IS NOT NULL AND NOT u.is_banned AND NOT u.is_hidden THEN 1 ELSE 0 END,"
                " u.username, u.display_name FROM users u LEFT JOIN board_scores s ON s.user_id = u.id"
                " AND s.board = :board AND s.period_key = :key WHERE u.id = :uid"
            )
        names = ("id", "version", "score", "at", "ranked", "username", "display_name")
        self.ONE = text(one).columns(*(column(c, _TS if c == "at" else None) for c in names))

    def top(self, conn: Connection, limit: int, offset: int = 0) -> tuple[list[Standing], int]:
        rows = conn.execute(self.TOP, {"limit": limit, "offset": offset, **self.params}).all()
        total = self.total(conn)
        return [Standing(r[0], r[1], r[2], offset + i + 1) for i, r in enumerate(rows)], total

    def total(self, conn: Connection) -> int:
        return int(conn.execute(self.TOTAL, self.params).scalar_one())

    def rank_of(self, conn: Connection, user_id: int, score: int, ts: datetime) -> int:
        """1 + the number of ranked players ahead of (score, ts, user_id)."""
        args = {"score": score, "ts": ts, "uid": user_id, **self.params}
        return int(conn.execute(self.AHEAD, args).scalar_one()) + 1

    def rank(self, conn: Connection, user_id: int) -> tuple[Standing | None, int]:
        total = self.total(conn)
        row = conn.execute(self.ME, {"uid": user_id, **self.params}).first()
        if row is None:
            return None, total
        return Standing(row[0], row[1], row[2], self.rank_of(conn, *row)), total

    def newest(self, conn: Connection) -> datetime | None:
        """When the latest ranked player reached their score (a past period's last update)."""
        return conn.execute(self.NEWEST, self.params).scalar()

    def state_of(self, conn: Connection, user_id: int) -> tuple[RankState, tuple[str, str]] | None:
        """One player's index state in this stream, and their names (None: no such player)."""
        r = conn.execute(self.ONE, {"uid": user_id, **self.params}).first()
        if r is None:
            return None
        return RankState(r[0], r[1], bool(r[4]), r[2], r[3]), (r[5], r[6])

    def states(self, conn: Connection) -> Iterable[RankState]:
        """Every player's index state, for a rebuild."""
        for r in conn.execute(self.STATES, self.params):
            yield RankState(r[0], r[1], bool(r[4]), r[2], r[3])
