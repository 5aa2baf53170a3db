"""Changes to a player's place on the board other than scoring: bans, hides, adjusts, resets.

Each act builds a `Change` and applies it through the ledger (one transaction, then the one
write path to the board).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from app.audit import SYSTEM, Origin
from app.errors import ScoreboardError
from app.models.boards import MAIN
from app.scoring.ledger import Audit, Change, Entry, Ledger
from app.scoring.writer import Placement

Also = Callable[[Connection], None] | None  # more statements for the change's transaction


class Moderation:
    """Admin and privacy acts on a player, each one change through the ledger."""

    ACTS = ("ban", "unban", "hide", "unhide", "adjust", "reset")

    def __init__(self, ledger: Ledger, streams: Any, clock: Callable[[], float] = time.time):
        self.ledger = ledger
        self.streams = streams  # app.boards.streams.Streams: a board's current periods
        self.clock = clock

    def ban(
        self,
        actor: int | None,
        user_id: int,
        reason: str,
        duration_seconds: int | None,
        origin: Origin = SYSTEM,
        also: Also = None,
    ) -> Placement:
        """Ban until unbanned, or for `duration_seconds`; the player leaves the board."""
        now = self._now()
        until = now + timedelta(seconds=duration_seconds) if duration_seconds else None
        audit = Audit("admin.ban", actor, reason, {"duration_seconds": duration_seconds})
        columns = {"is_banned": True, "banned_until": until}
        return self._apply("ban", user_id, now, audit, origin, columns, also)

    def unban(
        self, actor: int | None, user_id: int, reason: str = "ban expired", origin: Origin = SYSTEM
    ) -> Placement:
        """Lift a ban; the player is back on the board if they had scored."""
        columns = {"is_banned": False, "banned_until": None}
        audit = Audit("admin.unban", actor, reason)
        return self._apply("unban", user_id, self._now(), audit, origin, columns)

    def set_hidden(
        self, actor: int | None, user_id: int, hidden: bool, reason: str, origin: Origin = SYSTEM
    ) -> Placement:
        """Hide a player from the board (privacy or moderation), or show them again."""
        event = ("admin.hide" if hidden else "admin.unhide") if actor != user_id else "user.privacy"
        audit = Audit(event, actor, reason, {"hidden": hidden})
        kind = "hide" if hidden else "unhide"
        return self._apply(kind, user_id, self._now(), audit, origin, {"is_hidden": hidden})

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
        board: str = MAIN,
    ) -> Placement:
        """One of `ACTS` by name, as an admin does it (the admin API and page call this); adjust
        and reset act on one board (its all-time score and current periods), the others on all.

        :raise ScoreboardError NOT_FOUND: no such act, player or board.
        """
        if name == "ban":
            return self.ban(actor, user_id, reason, duration_seconds, origin)
        if name == "unban":
            return self.unban(actor, user_id, reason, origin)
        if name in ("hide", "unhide"):
            return self.set_hidden(actor, user_id, name == "hide", reason, origin)
        if name == "adjust":
            return self.adjust(actor, user_id, points, reason, origin, board)
        if name == "reset":
            return self.reset(actor, user_id, reason, origin, board)
        raise ScoreboardError("NOT_FOUND", f"No moderation act {name!r}.")

    def rename(self, user_id: int, display_name: str, origin: Origin = SYSTEM) -> Placement:
        """Change the name the board shows."""
        audit = Audit("user.rename", user_id, None, {"display_name": display_name})
        return self._apply("rename", user_id, self._now(), audit, origin, {"display_name": display_name})

    def adjust(
        self,
        actor: int | None,
        user_id: int,
        points: int,
        reason: str,
        origin: Origin = SYSTEM,
        board: str = MAIN,
    ) -> Placement:
        """Add (or take away) points on a board, written as a score event with source `admin`."""
        now = self._now()
        details: dict[str, Any] = {"points": points} | ({"board": board} if board != MAIN else {})
        change = Change(
            "adjust",
            user_id,
            now,
            Audit("admin.adjust", actor, reason, details),
            origin,
            points=points,
            entry=_admin_entry("adjust"),
            board=board,
            keys=self._keys(board, now),
        )
        return self.ledger.apply(change).placement

    def reset(
        self, actor: int | None, user_id: int, reason: str, origin: Origin = SYSTEM, board: str = MAIN
    ) -> Placement:
        """Score to 0 on a board and off it until the player scores there again."""
        now = self._now()
        audit = Audit("admin.reset", actor, reason, {"board": board} if board != MAIN else {})
        change = Change(
            "reset",
            user_id,
            now,
            audit,
            origin,
            reset=True,
            entry=_admin_entry("reset"),
            board=board,
            keys=self._keys(board, now),
        )
        return self.ledger.apply(change).placement

    def _keys(self, board: str, now: datetime) -> tuple[tuple[str, str], ...]:
        """:raise ScoreboardError NOT_FOUND: no such board."""
        return self.streams.keys(self.streams.info(board), now)

    def erase(self, user_id: int, columns: Mapping[str, Any], also: Also) -> Placement:
        """Take a deleted account off the board for good (its columns erased, `also` run first)."""
        audit = Audit("user.deleted", user_id)
        columns = {**columns, "is_deleted": True, "is_hidden": True}
        return self._apply("erase", user_id, self._now(), audit, SYSTEM, columns, also)

    def _apply(
        self,
        kind: str,
        user_id: int,
        now: datetime,
        audit: Audit,
        origin: Origin,
        columns: Mapping[str, Any],
        also: Also = None,
    ) -> Placement:
        change = Change(kind, user_id, now, audit, origin, columns=columns)
        return self.ledger.apply(change, also).placement

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def _admin_entry(kind: str) -> Entry:
    return Entry("admin", f"admin-{kind}-{secrets.token_urlsafe(12)}", f"admin_{kind}")
