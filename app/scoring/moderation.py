"""Changes to a player's place on the board other than scoring: bans, hides, adjusts, resets."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from app.audit import SYSTEM, Origin, audit_row, write_audit
from app.errors import ScoreboardError
from app.models.scores import ScoreEvent
from app.models.types import UTCDateTime
from app.scoring.ranking import RankState
from app.scoring.writer import BoardWriter, Placement, bump_seq, change_event

_TS = UTCDateTime()
_RETURNING = " RETURNING score, rank_version, score_updated_at, is_banned, is_hidden, username, display_name"
_EVENT = ScoreEvent.__table__.insert()


class Moderation:
    """Each change commits with a seq bump, then goes through the one write path."""

    def __init__(self, engine: Engine, writer: BoardWriter, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.writer = writer
        self.clock = clock

    def ban(
        self,
        actor: int | None,
        user_id: int,
        reason: str,
        duration_seconds: int | None,
        origin: Origin = SYSTEM,
    ) -> Placement:
        """Ban until unbanned, or for `duration_seconds`; the player leaves the board."""
        now = self._now()
        until = now + timedelta(seconds=duration_seconds) if duration_seconds else None
        return self._change(
            "ban",
            user_id,
            "is_banned = true, banned_until = :until",
            {"until": until},
            now,
            audit=("admin.ban", actor, reason, {"duration_seconds": duration_seconds}),
            origin=origin,
        )

    def unban(
        self, actor: int | None, user_id: int, reason: str = "ban expired", origin: Origin = SYSTEM
    ) -> Placement:
        return self._change(
            "unban",
            user_id,
            "is_banned = false, banned_until = NULL",
            {},
            self._now(),
            audit=("admin.unban", actor, reason, {}),
            origin=origin,
        )

    def set_hidden(
        self, actor: int | None, user_id: int, hidden: bool, reason: str, origin: Origin = SYSTEM
    ) -> Placement:
        """Hide a player from the board (privacy or moderation), or show them again."""
        event = ("admin.hide" if hidden else "admin.unhide") if actor != user_id else "user.privacy"
        return self._change(
            "hide" if hidden else "unhide",
            user_id,
            "is_hidden = :hidden",
            {"hidden": hidden},
            self._now(),
            audit=(event, actor, reason, {"hidden": hidden}),
            origin=origin,
        )

    ACTS = ("ban", "unban", "hide", "unhide", "adjust", "reset")

    def act(
        self,
        name: str,
        actor: int,
        user_id: int,
        reason: str,
        origin: Origin = SYSTEM,
        *,
        points: int = 0,
        duration_seconds: int | None = None,
    ) -> Placement:
        """One of `ACTS` by name, as an admin does it (the admin API and page call this).

        :raise ScoreboardError NOT_FOUND: no such act, or no such player.
        """
        if name == "ban":
            return self.ban(actor, user_id, reason, duration_seconds, origin)
        if name == "unban":
            return self.unban(actor, user_id, reason, origin)
        if name in ("hide", "unhide"):
            return self.set_hidden(actor, user_id, name == "hide", reason, origin)
        if name == "adjust":
            return self.adjust(actor, user_id, points, reason, origin)
        if name == "reset":
            return self.reset(actor, user_id, reason, origin)
        raise ScoreboardError("NOT_FOUND", f"No moderation act {name!r}.")

    def rename(self, user_id: int, display_name: str, origin: Origin = SYSTEM) -> Placement:
        """Change the name the board shows."""
        return self._change(
            "rename",
            user_id,
            "display_name = :name",
            {"name": display_name},
            self._now(),
            audit=("user.rename", user_id, None, {"display_name": display_name}),
            origin=origin,
        )

    def adjust(
        self, actor: int | None, user_id: int, points: int, reason: str, origin: Origin = SYSTEM
    ) -> Placement:
        """Add (or take away) points, written as a score event with source `admin`."""
        now = self._now()

        def record(conn: Connection, row: Any) -> None:
            self._score_event(conn, user_id, points, row[0], now, origin, "adjust")

        return self._change(
            "adjust",
            user_id,
            "score = score + :points, score_updated_at = :now",
            {"points": points},
            now,
            audit=("admin.adjust", actor, reason, {"points": points}),
            origin=origin,
            then=record,
        )

    def reset(self, actor: int | None, user_id: int, reason: str, origin: Origin = SYSTEM) -> Placement:
        """Score to 0 and off the board until the player scores again."""
        now = self._now()
        with self.engine.connect() as conn:
            old = conn.execute(text("SELECT score FROM users WHERE id = :uid"), {"uid": user_id}).scalar()

        def record(conn: Connection, row: Any) -> None:
            self._score_event(conn, user_id, -(old or 0), 0, now, origin, "reset")

        return self._change(
            "reset",
            user_id,
            "score = 0, score_updated_at = NULL",
            {},
            now,
            audit=("admin.reset", actor, reason, {"previous_score": old}),
            origin=origin,
            then=record,
        )

    def _change(
        self,
        kind: str,
        user_id: int,
        sets: str,
        params: dict[str, Any],
        now: datetime,
        *,
        audit: tuple[str, int | None, str | None, dict[str, Any]],
        origin: Origin,
        then: Callable[[Connection, Any], None] | None = None,
    ) -> Placement:
        times = [bindparam(name, type_=_TS) for name in ("now", "until") if f":{name}" in f"{sets} :now"]
        sql = (
            text(
                f"UPDATE users SET {sets}, rank_version = rank_version + 1, updated_at = :now "
                f"WHERE id = :uid AND NOT is_deleted{_RETURNING}"
            )
            .bindparams(*times)
            .columns(score_updated_at=_TS)
        )
        event_name, actor, reason, details = audit
        standings = self.writer.standings
        previous = None if standings.uses_index else standings.rank(user_id)[0]  # else the index tells
        with self.engine.begin() as conn:
            row = conn.execute(sql, {**params, "now": now, "uid": user_id}).first()
            if row is None:
                raise ScoreboardError("NOT_FOUND", f"No player with id {user_id}.")
            if then is not None:
                then(conn, row)
            write_audit(
                conn,
                audit_row(
                    event_name,
                    "success",
                    origin,
                    subject=user_id,
                    actor=actor,
                    reason=reason[:64] if reason else None,
                    details={**details, "reason": reason} if reason else details,
                    at=now,
                ),
            )
            seq = bump_seq(conn, now) if self.writer.seq_in_database else None
        score, version, updated_at, banned, hidden, username, display_name = row
        ranked = updated_at is not None and not banned and not hidden
        state = RankState(user_id, version, ranked, score, updated_at)
        event = change_event(kind, state, (username, display_name), seq, now)
        return self.writer.publish(state, event, bump=True, previous_rank=previous.rank if previous else None)

    @staticmethod
    def _score_event(
        conn: Connection,
        user_id: int,
        points: int,
        score_after: int,
        now: datetime,
        origin: Origin,
        kind: str,
    ) -> None:
        conn.execute(
            _EVENT,
            {
                "user_id": user_id,
                "action_id": f"admin-{kind}-{secrets.token_urlsafe(12)}",
                "action_type": f"admin_{kind}",
                "points": points,
                "score_after": score_after,
                "source": "admin",
                "ip": origin.ip,
                "user_agent": origin.user_agent,
                "created_at": now,
            },
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
