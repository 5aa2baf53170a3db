"""The ledger: the one place where a player's score and standing change.

Every change is a `Change` value: an accepted action, an admin's adjust or reset, a ban or
unban, a hide, a rename, an erasure. The ledger writes it in one transaction (the `users` row
with its `rank_version`, the score event, the audit row, and in the embedded mode the board
seq), then hands the committed state to the board writer, which places it in the rank index
and publishes it. Callers may add their own statements to the transaction (`also`), so that,
say, confirming a fraud flag and the ban it brings commit together.

Accepted actions take `Ledger.accept`. On PostgreSQL the actions of concurrent submits are
written by one statement (data-modifying CTEs, group commit through `Batcher`), handed to
psycopg as written; everywhere else, and for every other change, the statements below run one
change per transaction. Both are built from the same `Change`, so a score event or an audit row
has one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import orjson
from sqlalchemy import bindparam, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from app import tracing
from app.audit import SYSTEM, Origin, audit_row, write_audit
from app.batch import Batcher
from app.boards.periods import Period
from app.boards.stream import MAIN_STREAM, Stream
from app.errors import ScoreboardError
from app.models.boards import MAIN
from app.models.scores import ScoreEvent
from app.models.types import UTCDateTime
from app.models.users import User
from app.scoring.ranking import RankState
from app.scoring.writer import BoardWriter, Placement, Publish, bump_seq, change_event, publish_all

_TS = UTCDateTime()
_USERS = User.__table__
_EVENT = ScoreEvent.__table__.insert()
_STATE = (
    _USERS.c.score,
    _USERS.c.rank_version,
    _USERS.c.score_updated_at,
    _USERS.c.is_banned,
    _USERS.c.is_hidden,
    _USERS.c.username,
    _USERS.c.display_name,
)
# Locks the row (PostgreSQL's row lock, SQLite's write lock) and reads the score it had.
_CLAIM = text(
    "UPDATE users SET updated_at = :now WHERE id = :uid AND NOT is_deleted RETURNING score"
).bindparams(bindparam("now", type_=_TS))
# PostgreSQL, a batch of accepted actions: psycopg parameters, the changes as one JSON array.
# Rows are locked in id order, so two batches sharing players queue instead of deadlocking.
# The audit details are the change's own, with the score after it added (as `_write` does).
_ACCEPT_PG = (
    "WITH v AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(%(changes)s::jsonb)"
    " AS v(uid bigint, points bigint, board text, keys jsonb, source text, action_id text,"
    " action_type text, ip text, ua text, now timestamptz, event text, actor bigint, details jsonb)),"
    " l AS MATERIALIZED (SELECT id FROM users WHERE id IN (SELECT uid FROM v) ORDER BY id FOR UPDATE),"
    " u AS ("
    " UPDATE users SET score = users.score + CASE WHEN v.board = 'main' THEN v.points ELSE 0 END,"
    " score_updated_at = CASE WHEN v.board = 'main' THEN v.now ELSE users.score_updated_at END,"
    " rank_version = users.rank_version + 1, updated_at = v.now"
    " FROM v JOIN l ON l.id = v.uid WHERE users.id = v.uid"
    " RETURNING users.id, users.score, users.rank_version, users.score_updated_at, users.is_banned,"
    " users.is_hidden, users.username, users.display_name, v.*),"
    " s AS (INSERT INTO board_scores"
    " (board, period_key, user_id, period, score, score_updated_at, rank_version)"
    " SELECT u.board, k.key, u.id, k.period, u.points, u.now, u.rank_version"
    " FROM u CROSS JOIN LATERAL jsonb_to_recordset(u.keys) AS k(period text, key text)"
    " ON CONFLICT (board, period_key, user_id) DO UPDATE SET"
    " score = board_scores.score + excluded.score, score_updated_at = excluded.score_updated_at,"
    " rank_version = excluded.rank_version"
    " RETURNING board, period, period_key, user_id, score, score_updated_at),"
    " t AS (SELECT u.*, CASE WHEN u.board = 'main' THEN u.score ELSE (SELECT s.score FROM s"
    " WHERE s.user_id = u.id AND s.period_key = 'all') END AS after FROM u),"
    " e AS (INSERT INTO score_events (user_id, board, action_id, action_type, points, score_after,"
    " source, ip, user_agent, created_at)"
    " SELECT id, board, action_id, action_type, points, after, source, ip, ua, now FROM t),"
    " a AS (INSERT INTO audit_log"
    " (actor_user_id, subject_user_id, event, outcome, ip, user_agent, details, created_at)"
    " SELECT actor, id, event, 'success', ip, ua,"
    " details || jsonb_build_object('score_after', after), now FROM t)"
    " SELECT id, score, rank_version, score_updated_at, is_banned, is_hidden, username, display_name,"
    " (SELECT jsonb_agg(jsonb_build_array(s.board, s.period, s.period_key, s.score, s.score_updated_at))"
    " FROM s WHERE s.user_id = u.id) FROM u"
)
# one row of board_scores: a (board, period key) other than main's all-time
_UPSERT = (
    text(
        "INSERT INTO board_scores (board, period_key, user_id, period, score, score_updated_at, rank_version)"
        " VALUES (:board, :key, :uid, :period, :points, :now, :version)"
        " ON CONFLICT (board, period_key, user_id) DO UPDATE SET score = board_scores.score + excluded.score,"
        " score_updated_at = excluded.score_updated_at, rank_version = excluded.rank_version"
        " RETURNING score, score_updated_at"
    )
    .bindparams(bindparam("now", type_=_TS))
    .columns(score_updated_at=_TS)
)
_DROP = text("DELETE FROM board_scores WHERE board = :board AND period_key = :key AND user_id = :uid")
_ALL_TIME = text(
    "SELECT score FROM board_scores WHERE board = :board AND period_key = 'all' AND user_id = :uid"
)
_ROWS_OF = text(
    "SELECT board, period, period_key, score, score_updated_at FROM board_scores WHERE user_id = :uid"
).columns(score_updated_at=_TS)


@dataclass(frozen=True, slots=True)
class Entry:
    """The score event a change records."""

    source: str  # action | admin
    action_id: str
    action_type: str


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit row a change writes (outcome `success`)."""

    event: str
    actor: int | None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a player's score or standing."""

    kind: str  # the published event's kind: score, adjust, reset, ban, unban, hide, ...
    user_id: int
    now: datetime
    audit: Audit
    origin: Origin = SYSTEM
    points: int = 0  # added to the score (with `entry`)
    reset: bool = False  # the score to 0, off the board until the next score (with `entry`)
    entry: Entry | None = None  # the score event; None: the score does not change
    columns: Mapping[str, Any] = field(default_factory=dict)  # other columns of `users` to set
    board: str = MAIN  # the board a score change (`entry`) counts on
    # the rows of `board_scores` it counts in: (period, key) of the board's current periods, and
    # ("all", "all") on a board other than main (whose all-time score is `users.score`)
    keys: tuple[tuple[str, str], ...] = ()


class Row(NamedTuple):
    """A player's score in one stream after a change."""

    stream: Stream
    score: int
    score_updated_at: datetime | None


class After(NamedTuple):
    """The player's row after a change, as the board needs it, and the stream rows it touched."""

    score: int
    rank_version: int
    score_updated_at: datetime | None
    is_banned: bool
    is_hidden: bool
    username: str
    display_name: str
    rows: tuple[Row, ...] = ()

    @property
    def ranked(self) -> bool:
        return self.ranks(self.score_updated_at)

    def ranks(self, score_updated_at: datetime | None) -> bool:
        """Whether a score reached at `score_updated_at` (None: never) is on a board."""
        return score_updated_at is not None and not self.is_banned and not self.is_hidden


@dataclass(frozen=True, slots=True)
class Recorded:
    """A committed change: the player's score on the board and name after it, and their place
    on its all-time stream."""

    score: int
    username: str
    placement: Placement


class ActionReplayed(Exception):
    """The action id was accepted before (the database's last guard on single use)."""


def accepted_action(
    user_id: int,
    action_id: str,
    action_type: str,
    points: int,
    now: datetime,
    origin: Origin,
    board: str = MAIN,
    keys: tuple[tuple[str, str], ...] = (),
) -> Change:
    """The change one accepted action makes."""
    details: dict[str, Any] = {"action_id": action_id, "points": points}
    if board != MAIN:
        details["board"] = board
    return Change(
        "score",
        user_id,
        now,
        Audit("score.accepted", user_id, details=details),
        origin,
        points=points,
        entry=Entry("action", action_id, action_type),
        board=board,
        keys=keys,
    )


class Streams(Protocol):
    """What the ledger asks of the boards' streams."""

    def writer(self, stream: Stream) -> BoardWriter:
        """The write path of a stream other than main's all-time one."""
        ...

    def is_current(self, stream: Stream, now: datetime) -> bool:
        """Whether a stream's period key is current at `now` (ended ones are frozen)."""
        ...

    def now(self) -> datetime:
        """The domain's time."""
        ...

    def info(self, slug: str) -> Any:
        """A board's settings."""
        ...

    def keys(self, info: Any, now: datetime) -> tuple[tuple[str, str], ...]:
        """The rows a score change on a board at `now` counts in."""
        ...


class Ledger:
    """Writes changes and hands them to the board writer; see the module docstring."""

    def __init__(self, engine: Engine, writer: BoardWriter, streams: Streams):
        self.engine = engine
        self.writer = writer
        self.streams = streams
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.batched = engine.dialect.name == "postgresql" and not writer.seq_in_database
        self._batch: Batcher[Change, After] = Batcher(self.accept_many)

    def apply(self, change: Change, also: Callable[[Connection], None] | None = None) -> Recorded:
        """Write a change (after `also`, in the same transaction), then publish it.

        :raise ScoreboardError NOT_FOUND: no such player (nothing is written).
        """
        standings = self.writer.standings  # the rank reported is on the board's all-time stream
        if not _touches_main(change):
            standings = self.streams.writer(Stream(change.board, Period.ALL, "all")).standings
        previous = None if standings.uses_index else standings.rank(change.user_id)[0]  # else the index
        with self.engine.begin() as conn:
            if also is not None:
                also(conn)
            row = self._write(conn, change)
            seqs = self._bump(conn, change, row, lambda _: True)
        return self._publish(change, row, seqs, True, previous.rank if previous else None)

    def accept(self, change: Change, previous_rank: int | None = None) -> Recorded:
        """Write an accepted action (batched with concurrent ones on PostgreSQL), then publish it;
        `previous_rank` is the player's rank before it, when ranks come from the database.

        :raise ActionReplayed: the action id was used before (nothing is written).
        """
        try:
            with tracing.span("database batch"):
                if self.batched:
                    row, seqs = self._batch(change), {}
                else:
                    with self.engine.begin() as conn:
                        row = self._write(conn, change)
                        seqs = self._bump(conn, change, row, row.ranks)
        except IntegrityError as exc:
            raise ActionReplayed(change.entry.action_id if change.entry else "") from exc
        return self._publish(change, row, seqs, row.ranked, previous_rank)

    def _bump(
        self, conn: Connection, c: Change, row: After, counts: Callable[[datetime | None], bool]
    ) -> dict[Stream, int]:
        """Embedded mode: the seq of every stream the change moves (`counts` its score time)."""
        if not self.writer.seq_in_database:
            return {}
        seqs = {}
        if _touches_main(c) and counts(row.score_updated_at):
            seqs[MAIN_STREAM] = bump_seq(conn, c.now)
        for r in row.rows:
            if counts(r.score_updated_at):
                seqs[r.stream] = self.streams.writer(r.stream).bump(conn, c.now)
        return seqs

    def accept_many(self, batch: list[Change]) -> list[After | Exception]:
        """Write a batch of accepted actions in as few statements as possible (PostgreSQL): one,
        unless a player has several actions in it; a failed statement (a replayed action id) is
        retried one action at a time, so only the replayed one fails. Each result is the
        player's state row, or the exception."""
        results: dict[int, After | Exception] = {}
        batch = [self._restamped(c) for c in batch]
        for round_ in _rounds(batch):
            try:
                results.update(self._write_round(round_))
                continue
            except (IntegrityError, OperationalError) as exc:
                if len(round_) == 1:
                    results[round_[0][0]] = _failure(round_[0][1], exc)
                    continue
            for i, change in round_:  # alone, so only the replayed one fails
                try:
                    results.update(self._write_round([(i, change)]))
                except (IntegrityError, OperationalError) as exc:
                    results[i] = _failure(change, exc)
        return [results[i] for i in range(len(batch))]

    def _restamped(self, c: Change) -> Change:
        """An action that waited for its batch across a period's end counts in the period it
        commits in: its time and period keys are taken again (the rest of the batch keeps its
        own, taken a few milliseconds ago)."""
        if not c.keys:
            return c
        now = self.streams.now()
        keys = self.streams.keys(self.streams.info(c.board), now)
        return c if keys == c.keys else replace(c, now=now, keys=keys)

    def _write_round(self, round_: list[tuple[int, Change]]) -> dict[int, After | Exception]:
        records = orjson.dumps([_record(c) for _, c in round_]).decode()
        with self.autocommit.connect() as conn:
            rows = conn.exec_driver_sql(_ACCEPT_PG, {"changes": records}).fetchall()
        done = {r[0]: After._make((*r[1:8], _rows(r[8]))) for r in rows}
        return {i: done.get(c.user_id) or LookupError(f"no player {c.user_id}") for i, c in round_}

    def _write(self, conn: Connection, c: Change) -> After:
        """The statements of one change on an open transaction; the player's state row after it."""
        main = c.board == MAIN
        before = conn.execute(_CLAIM, {"now": c.now, "uid": c.user_id}).scalar() if c.reset else None
        if c.reset and not main:
            before = conn.execute(_ALL_TIME, {"board": c.board, "uid": c.user_id}).scalar()
        values: dict[str, Any] = {"rank_version": _USERS.c.rank_version + 1, "updated_at": c.now}
        if c.reset and main:
            values |= {"score": 0, "score_updated_at": None}
        elif c.entry is not None and main:
            values |= {"score": _USERS.c.score + c.points, "score_updated_at": c.now}
        values |= c.columns
        stmt = update(_USERS).where(_USERS.c.id == c.user_id, ~_USERS.c.is_deleted).values(values)
        state = conn.execute(stmt.returning(*_STATE)).first()
        if state is None:
            raise ScoreboardError("NOT_FOUND", f"No player with id {c.user_id}.")
        rows = self._write_rows(conn, c, state.rank_version)
        row = After._make((*state, rows))
        details = dict(c.audit.details)
        if c.entry is not None:
            points = -(before or 0) if c.reset else c.points
            after = row.score if main else next((r.score for r in rows if r.stream.key == "all"), 0)
            conn.execute(_EVENT, _event(c, c.entry, points, after))
            details["score_after"] = after
        if c.reset:
            details["previous_score"] = before or 0
        write_audit(conn, _audit(c, details))
        return row

    def _write_rows(self, conn: Connection, c: Change, version: int) -> tuple[Row, ...]:
        """A score change's rows of `board_scores`; for any other change, the player's current
        rows on every board (a ban or a rename shows on all of them)."""
        if c.entry is None:
            found = conn.execute(_ROWS_OF, {"uid": c.user_id}).all()
            rows = (Row(Stream(r[0], Period(r[1]), r[2]), r[3], r[4]) for r in found)
            return tuple(r for r in rows if self.streams.is_current(r.stream, c.now))
        out = []
        for period, key in c.keys:
            stream = Stream(c.board, Period(period), key)
            args = {"board": c.board, "key": key, "uid": c.user_id}
            if c.reset:
                conn.execute(_DROP, args)
                out.append(Row(stream, 0, None))
                continue
            args |= {"period": period, "points": c.points, "now": c.now, "version": version}
            score, reached = conn.execute(_UPSERT, args).one()
            out.append(Row(stream, score, reached))
        return tuple(out)

    def _publish(
        self, c: Change, row: After, seqs: dict[Stream, int], bump: bool, previous_rank: int | None
    ) -> Recorded:
        """Hand the committed change to each stream it moves (one round trip to the rank indexes);
        the place on the board's all-time stream."""
        extra = {"points": c.points} if c.kind == "score" else {}
        names = (row.username, row.display_name)
        shares: list[Publish] = []
        if _touches_main(c):
            state = RankState(c.user_id, row.rank_version, row.ranked, row.score, row.score_updated_at)
            event = change_event(c.kind, state, names, seqs.get(MAIN_STREAM), c.now, **extra)
            shares.append(Publish(self.writer, state, event, bump, previous_rank))
        all_time, score = (0, row.score) if c.board == MAIN else (None, row.score)
        for r in row.rows:
            ranked = row.ranks(r.score_updated_at)
            state = RankState(c.user_id, row.rank_version, ranked, r.score, r.score_updated_at)
            event = change_event(c.kind, state, names, seqs.get(r.stream), c.now, **extra)
            is_all_time = r.stream.key == "all" and r.stream.board == c.board
            if is_all_time:
                all_time, score = len(shares), r.score
            moved = ranked or c.entry is None or c.reset
            writer = self.streams.writer(r.stream)
            shares.append(Publish(writer, state, event, moved, previous_rank if is_all_time else None))
        placements = publish_all(shares)
        placement = placements[all_time] if all_time is not None else Placement(None, None, 0)
        return Recorded(score, row.username, placement)


def _touches_main(c: Change) -> bool:
    """Whether a change moves main's all-time stream: a score change there, or any change to the
    player's standing (a ban, a hide, a rename)."""
    return c.board == MAIN or c.entry is None


def _rows(found: list[list[Any]] | None) -> tuple[Row, ...]:
    """The stream rows `_ACCEPT_PG` returns, as JSON arrays."""
    return tuple(
        Row(Stream(b, Period(p), k), score, datetime.fromisoformat(at)) for b, p, k, score, at in found or ()
    )


def _event(c: Change, entry: Entry, points: int, score_after: int) -> dict[str, Any]:
    return {
        "user_id": c.user_id,
        "board": c.board,
        "action_id": entry.action_id,
        "action_type": entry.action_type,
        "points": points,
        "score_after": score_after,
        "source": entry.source,
        "ip": c.origin.ip,
        "user_agent": c.origin.user_agent,
        "created_at": c.now,
    }


def _audit(c: Change, details: dict[str, Any]) -> dict[str, Any]:
    reason = c.audit.reason
    return audit_row(
        c.audit.event,
        "success",
        c.origin,
        subject=c.user_id,
        actor=c.audit.actor,
        reason=reason[:64] if reason else None,
        details={**details, "reason": reason} if reason else details,
        at=c.now,
    )


def _record(c: Change) -> dict[str, Any]:
    """One accepted action as `_ACCEPT_PG` reads it."""
    assert c.entry is not None and not c.audit.reason
    return {
        "uid": c.user_id,
        "points": c.points,
        "board": c.board,
        "keys": [{"period": p, "key": k} for p, k in c.keys],
        "source": c.entry.source,
        "action_id": c.entry.action_id,
        "action_type": c.entry.action_type,
        "ip": c.origin.ip,
        "ua": c.origin.user_agent,
        "now": c.now,
        "event": c.audit.event,
        "actor": c.audit.actor,
        "details": c.audit.details,
    }


def _failure(change: Change, exc: Exception) -> Exception:
    if isinstance(exc, IntegrityError):
        replayed = ActionReplayed(change.entry.action_id if change.entry else "")
        replayed.__cause__ = exc
        return replayed
    return exc


def _rounds(batch: list[Change]) -> list[list[tuple[int, Change]]]:
    """Split a batch so no player appears twice in one statement (each keeps its order)."""
    rounds: list[list[tuple[int, Change]]] = []
    seen: list[set[int]] = []
    for i, change in enumerate(batch):
        n = next((k for k, users in enumerate(seen) if change.user_id not in users), len(rounds))
        if n == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[n].append((i, change))
        seen[n].add(change.user_id)
    return rounds
