"""Writing an accepted action: the score increment, the event and its audit row, atomically.

On PostgreSQL this is one statement (data-modifying CTEs) in autocommit: one round trip, and
the unique `action_id` makes a replay fail as a whole. It and the player read before it go to
psycopg as written (`exec_driver_sql`): no statement compiling or type processing on this
path. SQLite runs the same writes in one transaction and also takes the board seq there (the
embedded mode has no Redis counter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from app.audit import Origin, audit_row, write_audit
from app.batch import Batcher
from app.models.scores import ScoreEvent
from app.models.types import UTCDateTime
from app.scoring.writer import bump_seq

_TS = UTCDateTime()
_ADD = text(
    "UPDATE users SET score = score + :points, score_updated_at = :now, "
    "rank_version = rank_version + 1, updated_at = :now WHERE id = :uid "
    "RETURNING score, rank_version, is_banned, is_hidden, username, display_name"
).bindparams(bindparam("now", type_=_TS))
_EVENT = ScoreEvent.__table__.insert()
_PLAYER_COLUMNS = (
    "id, username, display_name, score, score_updated_at, is_banned, banned_until, "
    "suspended_until, is_flagged, is_hidden, is_deleted, penalty_level"
)
_PLAYER = text(f"SELECT {_PLAYER_COLUMNS} FROM users WHERE id = :uid").columns(
    score_updated_at=_TS, banned_until=_TS, suspended_until=_TS
)
_PLAYERS_PG = f"SELECT {_PLAYER_COLUMNS} FROM users WHERE id = ANY(%(ids)s)"
# psycopg parameters: the actions as one JSON array (one parameter, serialised by orjson).
# Rows are locked in id order, so two batches sharing players queue instead of deadlocking.
_ACCEPT_PG = (
    "WITH v AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(%(actions)s::jsonb)"
    " AS v(uid bigint, points bigint, action_id text, action_type text, ip text, ua text,"
    " now timestamptz)),"
    " l AS MATERIALIZED (SELECT id FROM users WHERE id IN (SELECT uid FROM v) ORDER BY id FOR UPDATE),"
    " u AS ("
    " UPDATE users SET score = users.score + v.points, score_updated_at = v.now,"
    " rank_version = users.rank_version + 1, updated_at = v.now"
    " FROM v JOIN l ON l.id = v.uid WHERE users.id = v.uid"
    " RETURNING users.id, users.score, users.rank_version, users.is_banned, users.is_hidden,"
    " users.username, users.display_name, v.points, v.action_id, v.action_type, v.ip, v.ua, v.now),"
    " e AS (INSERT INTO score_events"
    " (user_id, action_id, action_type, points, score_after, source, ip, user_agent, created_at)"
    " SELECT id, action_id, action_type, points, score, 'action', ip, ua, now FROM u),"
    " a AS (INSERT INTO audit_log"
    " (actor_user_id, subject_user_id, event, outcome, ip, user_agent, details, created_at)"
    " SELECT id, id, 'score.accepted', 'success', ip, ua, jsonb_build_object("
    " 'action_id', action_id, 'points', points, 'score_after', score), now FROM u)"
    " SELECT id, score, rank_version, is_banned, is_hidden, username, display_name FROM u"
)


@dataclass(frozen=True, slots=True)
class ActionWrite:
    """One accepted action to write."""

    user_id: int
    action_id: str
    action_type: str
    points: int
    now: datetime
    origin: Origin


class ActionReplayed(Exception):
    """The action id was accepted before (the database's last guard on single use)."""


@dataclass(frozen=True, slots=True)
class Applied:
    score: int
    version: int
    ranked: bool
    username: str
    display_name: str
    seq: int | None


class ScoreStore:
    """The database side of accepting an action.

    On PostgreSQL the reads and writes of concurrent submits are batched (`Batcher`): one
    statement, one commit, for every action that arrived while the previous batch ran. Each
    caller still returns only after its own action is committed.
    """

    def __init__(self, engine: Engine, seq_in_database: bool):
        self.engine = engine
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.batched = engine.dialect.name == "postgresql" and not seq_in_database
        self.seq_in_database = seq_in_database
        self._read: Batcher[int, tuple[Any, ...] | None] = Batcher(self._players)
        self._write: Batcher[ActionWrite, Applied] = Batcher(self.accept_many)

    def player(self, user_id: int) -> tuple[Any, ...] | None:
        """The player's row (`_PLAYER_COLUMNS`), or None."""
        if self.batched:
            return self._read(user_id)
        with self.autocommit.connect() as conn:
            return conn.execute(_PLAYER, {"uid": user_id}).first()

    def accept(self, action: ActionWrite) -> Applied:
        """Add the points, record the event and audit it; all or nothing.

        :raise ActionReplayed: the action id was used before.
        """
        if self.batched:
            return self._write(action)
        try:
            return self._accept_in_transaction(action)
        except IntegrityError as exc:
            raise ActionReplayed(action.action_id) from exc

    def _players(self, ids: list[int]) -> list[tuple[Any, ...] | None]:
        rows = {r[0]: r for r in self._rows(_PLAYERS_PG, {"ids": ids})}
        return [rows.get(i) for i in ids]

    def accept_many(self, batch: list[ActionWrite]) -> list[Applied | Exception]:
        """Write a batch; a player with several actions in it gets one statement per action.

        When the statement fails (a replayed action id), each action is retried alone, so
        only the replayed one fails.
        """
        results: dict[int, Applied | Exception] = {}
        for round_ in _rounds(batch):
            try:
                results.update(self._write_round(round_))
                continue
            except (IntegrityError, OperationalError) as exc:
                if len(round_) == 1:
                    results[round_[0][0]] = _failure(round_[0][1], exc)
                    continue
            for i, action in round_:  # alone, so only the replayed one fails
                try:
                    results.update(self._write_round([(i, action)]))
                except (IntegrityError, OperationalError) as exc:
                    results[i] = _failure(action, exc)
        return [results[i] for i in range(len(batch))]

    def _write_round(self, round_: list[tuple[int, ActionWrite]]) -> dict[int, Applied | Exception]:
        actions = [a for _, a in round_]
        rows = self._rows(_ACCEPT_PG, {"actions": orjson.dumps([_record(a) for a in actions]).decode()})
        done = {r[0]: Applied(r[1], r[2], not r[3] and not r[4], r[5], r[6], None) for r in rows}
        return {i: done.get(a.user_id) or LookupError(f"no player {a.user_id}") for i, a in round_}

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """One statement in autocommit, handed to psycopg as written (no compiling, no type
        processing); its rows."""
        with self.autocommit.connect() as conn:
            return list(conn.exec_driver_sql(sql, params).fetchall())

    def _accept_in_transaction(self, a: ActionWrite) -> Applied:
        user_id, origin, now = a.user_id, a.origin, a.now
        with self.engine.begin() as conn:
            score, version, banned, hidden, username, display_name = conn.execute(
                _ADD, {"points": a.points, "now": now, "uid": user_id}
            ).one()
            conn.execute(
                _EVENT,
                {
                    "user_id": user_id,
                    "action_id": a.action_id,
                    "action_type": a.action_type,
                    "points": a.points,
                    "score_after": score,
                    "source": "action",
                    "ip": origin.ip,
                    "user_agent": origin.user_agent,
                    "created_at": now,
                },
            )
            write_audit(
                conn,
                audit_row(
                    "score.accepted",
                    "success",
                    origin,
                    subject=user_id,
                    actor=user_id,
                    at=now,
                    details={"action_id": a.action_id, "points": a.points, "score_after": score},
                ),
            )
            ranked = not banned and not hidden
            seq = bump_seq(conn, now) if ranked and self.seq_in_database else None
        return Applied(score, version, ranked, username, display_name, seq)


def _record(a: ActionWrite) -> dict[str, Any]:
    return {
        "uid": a.user_id,
        "points": a.points,
        "action_id": a.action_id,
        "action_type": a.action_type,
        "ip": a.origin.ip,
        "ua": a.origin.user_agent,
        "now": a.now,
    }


def _failure(action: ActionWrite, exc: Exception) -> Exception:
    if isinstance(exc, IntegrityError):
        replayed = ActionReplayed(action.action_id)
        replayed.__cause__ = exc
        return replayed
    return exc


def _rounds(batch: list[ActionWrite]) -> list[list[tuple[int, ActionWrite]]]:
    """Split a batch so no player appears twice in one statement (each keeps its order)."""
    rounds: list[list[tuple[int, ActionWrite]]] = []
    seen: list[set[int]] = []
    for i, action in enumerate(batch):
        n = next((k for k, users in enumerate(seen) if action.user_id not in users), len(rounds))
        if n == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[n].append((i, action))
        seen[n].add(action.user_id)
    return rounds
