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

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.audit import Origin, audit_row, write_audit
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
_PLAYER_PG = f"SELECT {_PLAYER_COLUMNS} FROM users WHERE id = %(uid)s"
_ACCEPT_PG = (  # psycopg parameters
    "WITH u AS ("
    " UPDATE users SET score = score + %(points)s, score_updated_at = %(now)s,"
    " rank_version = rank_version + 1, updated_at = %(now)s WHERE id = %(uid)s"
    " RETURNING id, score, rank_version, is_banned, is_hidden, username, display_name),"
    " e AS (INSERT INTO score_events"
    " (user_id, action_id, action_type, points, score_after, source, ip, user_agent, created_at)"
    " SELECT id, %(action_id)s, %(action_type)s, %(points)s, score, 'action', %(ip)s, %(ua)s, %(now)s"
    " FROM u),"
    " a AS (INSERT INTO audit_log"
    " (actor_user_id, subject_user_id, event, outcome, ip, user_agent, details, created_at)"
    " SELECT id, id, 'score.accepted', 'success', %(ip)s, %(ua)s,"
    " jsonb_build_object('action_id', CAST(%(action_id)s AS text), 'points', CAST(%(points)s AS bigint),"
    " 'score_after', score), %(now)s FROM u)"
    " SELECT score, rank_version, is_banned, is_hidden, username, display_name FROM u"
)


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
    """The database side of accepting one action."""

    def __init__(self, engine: Engine, seq_in_database: bool):
        self.engine = engine
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.single_statement = engine.dialect.name == "postgresql"
        self.seq_in_database = seq_in_database

    def player(self, user_id: int) -> tuple[Any, ...] | None:
        """The player's row (`_PLAYER_COLUMNS`), or None."""
        if self.single_statement:
            return self._one(_PLAYER_PG, {"uid": user_id})
        with self.autocommit.connect() as conn:
            return conn.execute(_PLAYER, {"uid": user_id}).first()

    def accept(
        self, user_id: int, action_id: str, action_type: str, points: int, now: datetime, origin: Origin
    ) -> Applied:
        """Add the points, record the event and audit it; all or nothing.

        :raise ActionReplayed: the action id was used before.
        """
        if self.single_statement and not self.seq_in_database:
            params = {
                "points": points,
                "now": now,
                "uid": user_id,
                "action_id": action_id,
                "action_type": action_type,
                "ip": origin.ip,
                "ua": origin.user_agent,
            }
            try:
                row = self._one(_ACCEPT_PG, params)
            except IntegrityError as exc:
                raise ActionReplayed(action_id) from exc
            assert row is not None
            return Applied(row[0], row[1], not row[2] and not row[3], row[4], row[5], None)
        try:
            return self._accept_in_transaction(user_id, action_id, action_type, points, now, origin)
        except IntegrityError as exc:
            raise ActionReplayed(action_id) from exc

    def _one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """One statement in autocommit, handed to psycopg as written (no compiling, no type
        processing); its first row."""
        with self.autocommit.connect() as conn:
            return conn.exec_driver_sql(sql, params).fetchone()

    def _accept_in_transaction(
        self, user_id: int, action_id: str, action_type: str, points: int, now: datetime, origin: Origin
    ) -> Applied:
        with self.engine.begin() as conn:
            score, version, banned, hidden, username, display_name = conn.execute(
                _ADD, {"points": points, "now": now, "uid": user_id}
            ).one()
            conn.execute(
                _EVENT,
                {
                    "user_id": user_id,
                    "action_id": action_id,
                    "action_type": action_type,
                    "points": points,
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
                    details={"action_id": action_id, "points": points, "score_after": score},
                ),
            )
            ranked = not banned and not hidden
            seq = bump_seq(conn, now) if ranked and self.seq_in_database else None
        return Applied(score, version, ranked, username, display_name, seq)
