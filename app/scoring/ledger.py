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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import bindparam, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from app.audit import SYSTEM, Origin, audit_row, write_audit
from app.batch import Batcher
from app.errors import ScoreboardError
from app.models.scores import ScoreEvent
from app.models.types import UTCDateTime
from app.models.users import User
from app.scoring.ranking import RankState
from app.scoring.writer import BoardWriter, Placement, bump_seq, change_event

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
    " AS v(uid bigint, points bigint, source text, action_id text, action_type text, ip text,"
    " ua text, now timestamptz, event text, actor bigint, details jsonb)),"
    " l AS MATERIALIZED (SELECT id FROM users WHERE id IN (SELECT uid FROM v) ORDER BY id FOR UPDATE),"
    " u AS ("
    " UPDATE users SET score = users.score + v.points, score_updated_at = v.now,"
    " rank_version = users.rank_version + 1, updated_at = v.now"
    " FROM v JOIN l ON l.id = v.uid WHERE users.id = v.uid"
    " RETURNING users.id, users.score, users.rank_version, users.score_updated_at, users.is_banned,"
    " users.is_hidden, users.username, users.display_name, v.*),"
    " e AS (INSERT INTO score_events"
    " (user_id, action_id, action_type, points, score_after, source, ip, user_agent, created_at)"
    " SELECT id, action_id, action_type, points, score, source, ip, ua, now FROM u),"
    " a AS (INSERT INTO audit_log"
    " (actor_user_id, subject_user_id, event, outcome, ip, user_agent, details, created_at)"
    " SELECT actor, id, event, 'success', ip, ua,"
    " details || jsonb_build_object('score_after', score), now FROM u)"
    " SELECT id, score, rank_version, score_updated_at, is_banned, is_hidden, username, display_name"
    " FROM u"
)


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


class After(NamedTuple):
    """The player's row after a change, as the board needs it."""

    score: int
    rank_version: int
    score_updated_at: datetime | None
    is_banned: bool
    is_hidden: bool
    username: str
    display_name: str

    @property
    def ranked(self) -> bool:
        return self.score_updated_at is not None and not self.is_banned and not self.is_hidden


@dataclass(frozen=True, slots=True)
class Recorded:
    """A committed change: the player's score and name after it, and their place."""

    score: int
    username: str
    placement: Placement


class ActionReplayed(Exception):
    """The action id was accepted before (the database's last guard on single use)."""


def accepted_action(
    user_id: int, action_id: str, action_type: str, points: int, now: datetime, origin: Origin
) -> Change:
    """The change one accepted action makes."""
    return Change(
        "score",
        user_id,
        now,
        Audit("score.accepted", user_id, details={"action_id": action_id, "points": points}),
        origin,
        points=points,
        entry=Entry("action", action_id, action_type),
    )


class Ledger:
    """Writes changes and hands them to the board writer; see the module docstring."""

    def __init__(self, engine: Engine, writer: BoardWriter):
        self.engine = engine
        self.writer = writer
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.batched = engine.dialect.name == "postgresql" and not writer.seq_in_database
        self._batch: Batcher[Change, After] = Batcher(self.accept_many)

    def apply(self, change: Change, also: Callable[[Connection], None] | None = None) -> Recorded:
        """Write a change (after `also`, in the same transaction), then publish it.

        :raise ScoreboardError NOT_FOUND: no such player (nothing is written).
        """
        standings = self.writer.standings
        previous = None if standings.uses_index else standings.rank(change.user_id)[0]  # else the index
        with self.engine.begin() as conn:
            if also is not None:
                also(conn)
            row = self._write(conn, change)
            seq = bump_seq(conn, change.now) if self.writer.seq_in_database else None
        return self._publish(change, row, seq, True, previous.rank if previous else None)

    def accept(self, change: Change, previous_rank: int | None = None) -> Recorded:
        """Write an accepted action (batched with concurrent ones on PostgreSQL), then publish it;
        `previous_rank` is the player's rank before it, when ranks come from the database.

        :raise ActionReplayed: the action id was used before (nothing is written).
        """
        try:
            if self.batched:
                row, seq = self._batch(change), None
            else:
                with self.engine.begin() as conn:
                    row = self._write(conn, change)
                    bump = row.ranked and self.writer.seq_in_database
                    seq = bump_seq(conn, change.now) if bump else None
        except IntegrityError as exc:
            raise ActionReplayed(change.entry.action_id if change.entry else "") from exc
        return self._publish(change, row, seq, row.ranked, previous_rank)

    def accept_many(self, batch: list[Change]) -> list[After | Exception]:
        """Write a batch of accepted actions in as few statements as possible (PostgreSQL): one,
        unless a player has several actions in it; a failed statement (a replayed action id) is
        retried one action at a time, so only the replayed one fails. Each result is the
        player's state row, or the exception."""
        results: dict[int, After | Exception] = {}
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

    def _write_round(self, round_: list[tuple[int, Change]]) -> dict[int, After | Exception]:
        records = orjson.dumps([_record(c) for _, c in round_]).decode()
        with self.autocommit.connect() as conn:
            rows = conn.exec_driver_sql(_ACCEPT_PG, {"changes": records}).fetchall()
        done = {r[0]: After(*r[1:]) for r in rows}
        return {i: done.get(c.user_id) or LookupError(f"no player {c.user_id}") for i, c in round_}

    def _write(self, conn: Connection, c: Change) -> After:
        """The statements of one change on an open transaction; the player's state row after it."""
        before = conn.execute(_CLAIM, {"now": c.now, "uid": c.user_id}).scalar() if c.reset else None
        values: dict[str, Any] = {"rank_version": _USERS.c.rank_version + 1, "updated_at": c.now}
        if c.reset:
            values |= {"score": 0, "score_updated_at": None}
        elif c.entry is not None:
            values |= {"score": _USERS.c.score + c.points, "score_updated_at": c.now}
        values |= c.columns
        stmt = update(_USERS).where(_USERS.c.id == c.user_id, ~_USERS.c.is_deleted).values(values)
        row = conn.execute(stmt.returning(*_STATE)).first()
        if row is None:
            raise ScoreboardError("NOT_FOUND", f"No player with id {c.user_id}.")
        details = dict(c.audit.details)
        if c.entry is not None:
            points = -(before or 0) if c.reset else c.points
            conn.execute(_EVENT, _event(c, c.entry, points, row.score))
            details["score_after"] = row.score
        if c.reset:
            details["previous_score"] = before
        write_audit(conn, _audit(c, details))
        return After(*row)

    def _publish(
        self, c: Change, row: After, seq: int | None, bump: bool, previous_rank: int | None
    ) -> Recorded:
        state = RankState(c.user_id, row.rank_version, row.ranked, row.score, row.score_updated_at)
        extra = {"points": c.points} if c.kind == "score" else {}
        event = change_event(c.kind, state, (row.username, row.display_name), seq, c.now, **extra)
        placement = self.writer.publish(state, event, bump=bump, previous_rank=previous_rank)
        return Recorded(row.score, row.username, placement)


def _event(c: Change, entry: Entry, points: int, score_after: int) -> dict[str, Any]:
    return {
        "user_id": c.user_id,
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
