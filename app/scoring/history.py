"""A player's score over time (SPEC §14, §15): the score at the end of each hour or day bucket,
read from the score events.

Each point is one index lookup, whatever the number of events: the last event of the player on
the board before the point's time (`ix_score_events_user_board_created`), whose `score_after` is
the board's all-time score then. A period's score is the all-time score less the one at the
period's start, or the all-time score itself after a reset inside the period (a reset takes the
player off every current period, SPEC §14 and docs/boards.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from app.boards import periods as p
from app.errors import ScoreboardError
from app.models.types import UTCDateTime

Bucket = Literal["hour", "day"]
MAX_POINTS = 2000
DEFAULT_SPAN: dict[str, timedelta] = {"hour": timedelta(hours=48), "day": timedelta(days=90)}
HOUR = timedelta(hours=1)
_TS = UTCDateTime()

_LOOKUP = (
    "(SELECT e.score_after FROM score_events e WHERE e.user_id = :uid AND e.board = :board"
    " AND e.created_at < b.at ORDER BY e.created_at DESC, e.id DESC LIMIT 1)"
)
_AT_PG = text(
    f"SELECT {_LOOKUP} FROM unnest(CAST(:ats AS timestamptz[])) WITH ORDINALITY AS b(at, n) ORDER BY b.n"
)
_AT_SQLITE = text(
    f"WITH b(at, n) AS (SELECT value, key FROM json_each(:ats)) SELECT {_LOOKUP} FROM b ORDER BY n"
)
_RESETS = text(
    "SELECT created_at FROM score_events WHERE user_id = :uid AND board = :board"
    " AND action_type = 'admin_reset' AND created_at >= :start AND created_at < :end ORDER BY created_at"
)


@dataclass(frozen=True, slots=True)
class Span:
    """What a history covers: [start, end) in buckets, within a period's window (all-time: any)."""

    start: datetime
    end: datetime
    bucket: Bucket
    tz: ZoneInfo
    window: p.Window


def span(
    window: p.Window,
    bucket: Bucket,
    tz: ZoneInfo,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> Span:
    """The span a request asks for, inside `window` and not past `now`.

    :raise ScoreboardError INVALID_REQUEST: an empty span, or more than MAX_POINTS buckets.
    """
    end = min(until or now, now, window.ends_at or now)
    start = since or end - DEFAULT_SPAN[bucket]
    if window.starts_at is not None:
        start = max(start, window.starts_at)
    if start >= end:
        raise ScoreboardError("INVALID_REQUEST", "from must be before until (and before now)")
    if bucket == "hour" and (end - start) / HOUR > MAX_POINTS:
        raise ScoreboardError("INVALID_REQUEST", f"at most {MAX_POINTS} points: narrow from/until")
    if bucket == "day" and (end - start) > timedelta(days=MAX_POINTS):
        raise ScoreboardError("INVALID_REQUEST", f"at most {MAX_POINTS} points: narrow from/until")
    return Span(start, end, bucket, tz, window)


def bucket_ends(s: Span) -> list[datetime]:
    """The end of every bucket from the one holding `start` on; the last one is `end` itself when
    a bucket is still running. Hours are UTC hours; days start at midnight in the board's zone."""
    ends: list[datetime] = []
    at = s.start
    while at < s.end and len(ends) <= MAX_POINTS:
        if s.bucket == "hour":
            nxt = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
        else:
            nxt = p.bounds(p.Period.DAILY, p.key_at(p.Period.DAILY, at, s.tz), s.tz)[1]  # type: ignore[assignment]
        at = min(nxt, s.end)
        ends.append(at)
    return ends


def points(conn: Connection, user_id: int, board: str, s: Span) -> list[tuple[datetime, int]]:
    """(time, score then) at the end of each bucket of `s`."""
    ends = bucket_ends(s)
    starts_at = s.window.starts_at
    ats = [starts_at, *ends] if starts_at is not None else ends
    scores = _scores(conn, user_id, board, ats)
    if starts_at is None:
        return list(zip(ends, scores, strict=True))
    base, scores = scores[0], scores[1:]
    args = {"uid": user_id, "board": board, "start": starts_at, "end": s.end}
    stmt = _RESETS.bindparams(bindparam("start", type_=_TS), bindparam("end", type_=_TS))
    resets = [r[0] for r in conn.execute(stmt.columns(created_at=_TS), args)]
    out = []
    for at, score in zip(ends, scores, strict=True):
        reset = any(r < at for r in resets)
        out.append((at, score if reset else score - base))
    return out


def _scores(conn: Connection, user_id: int, board: str, ats: list[datetime]) -> list[int]:
    """The board's all-time score of a player right before each of `ats` (0 before any event)."""
    args: dict[str, object] = {"uid": user_id, "board": board}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_AT_PG, {**args, "ats": ats})
    else:  # SQLite compares the fixed-width text the column type stores
        stored = [_TS.process_bind_param(at, conn.dialect) for at in ats]
        text_ats = [at.strftime("%Y-%m-%d %H:%M:%S.%f") for at in stored]
        rows = conn.execute(_AT_SQLITE, {**args, "ats": orjson.dumps(text_ats).decode()})
    return [int(r[0] or 0) for r in rows]
