"""Writing an accepted action: the score increment, the event and its audit row, atomically.

On PostgreSQL this is one statement (data-modifying CTEs) in autocommit: one round trip, and
the unique `action_id` makes a replay fail as a whole. SQLite runs the same writes in one
transaction and also takes the board seq there (the embedded mode has no Redis counter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

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
_ACCEPT_PG = text(
    "WITH u AS ("
    " UPDATE users SET score = score + :points, score_updated_at = :now,"
    " rank_version = rank_version + 1, updated_at = :now WHERE id = :uid"
    " RETURNING id, score, rank_version, is_banned, is_hidden, username, display_name),"
    " e AS (INSERT INTO score_events"
    " (user_id, action_id, action_type, points, score_after, source, ip, user_agent, created_at)"
    " SELECT id, :action_id, :action_type, :points, score, 'action', :ip, :ua, :now FROM u),"
    " a AS (INSERT INTO audit_log"
    " (actor_user_id, subject_user_id, event, outcome, ip, user_agent, details, created_at)"
    " SELECT id, id, 'score.accepted', 'success', :ip, :ua,"
    " jsonb_build_object('action_id', CAST(:action_id AS text), 'points', CAST(:points AS bigint),"
    " 'score_after', score), :now FROM u)"
    " SELECT score, rank_version, is_banned, is_hidden, username, display_name FROM u"
).bindparams(bindparam("now", type_=_TS))


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

    def accept(
        self, user_id: int, action_id: str, action_type: str, points: int, now: datetime, origin: Origin
    ) -> Applied:
        """Add the points, record the event and audit it; all or nothing.

        :raise sqlalchemy.exc.IntegrityError: the action id was used before.
        """
        if self.single_statement and not self.seq_in_database:
            with self.autocommit.connect() as conn:
                row = conn.execute(
                    _ACCEPT_PG,
                    {
                        "points": points,
                        "now": now,
                        "uid": user_id,
                        "action_id": action_id,
                        "action_type": action_type,
                        "ip": origin.ip,
                        "ua": origin.user_agent,
                    },
                ).one()
            return Applied(row[0], row[1], not row[2] and not row[3], row[4], row[5], None)
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
