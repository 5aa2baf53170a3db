"""Fraud rules (SPEC §10): each hit writes a flag and an audit row; some also suspend."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from app.audit import Origin, audit_row, write_audit
from app.fraud.limits import Check, RateLimits
from app.models.fraud import FraudFlag
from app.models.types import UTCDateTime

log = logging.getLogger(__name__)

_TS = UTCDateTime()
_OPEN = text("SELECT 1 FROM fraud_flags WHERE user_id = :uid AND rule = :rule AND status = 'open'")
_FLAG = FraudFlag.__table__.insert()
_MARK = text("UPDATE users SET is_flagged = true WHERE id = :uid")
_SUSPEND = text(
    "UPDATE users SET suspended_until = :until, penalty_level = :level WHERE id = :uid"
).bindparams(bindparam("until", type_=_TS))
_REGISTRATIONS = text(
    "SELECT count(*) FROM audit_log WHERE event = 'auth.register' AND ip = :ip AND created_at > :since"
).bindparams(bindparam("since", type_=_TS))


@dataclass(frozen=True, slots=True)
class Thresholds:
    burst_count: int
    burst_window: int
    velocity: int
    manual_review: int
    accounts_per_ip: int
    penalty_steps: tuple[int, ...]

    @classmethod
    def from_config(cls, c: Any) -> Thresholds:
        return cls(
            c.FRAUD_BURST_COUNT,
            c.FRAUD_BURST_WINDOW,
            c.SUSPICIOUS_VELOCITY_THRESHOLD,
            c.MANUAL_REVIEW_THRESHOLD,
            c.FRAUD_ACCOUNTS_PER_IP,
            tuple(c.PENALTY_STEPS),
        )


class FraudRules:
    """Watches accepted actions, tokens and sign-ups; flags players for review."""

    def __init__(
        self,
        engine: Engine,
        limits: RateLimits,
        thresholds: Thresholds,
        clock: Callable[[], float] = time.time,
    ):
        self.engine = engine
        self.limits = limits
        self.t = thresholds
        self.clock = clock

    def accept_checks(self, user_id: int, points: int) -> list[Check]:
        """The counters an accepted action adds to: burst, then velocity."""
        t = self.t
        return [
            Check(f"{t.burst_count}/{t.burst_window} seconds", ("burst", user_id)),
            Check(f"{t.velocity}/hour", ("velocity", user_id), max(points, 0)),
        ]

    def after_accept(
        self, user_id: int, points: int, old_score: int, new_score: int, waits: Sequence[int] | None = None
    ) -> None:
        """Burst, velocity and manual-review rules on an accepted action.

        `waits`: the results of `accept_checks`, when the caller hit them in its own batch.
        """
        t = self.t
        burst, velocity = (
            waits if waits is not None else self.limits.hit_many(self.accept_checks(user_id, points))
        )
        if burst:
            self.flag(user_id, "burst", "high", {"count": t.burst_count + 1, "window": t.burst_window})
        if velocity:
            self.flag(user_id, "velocity", "medium", {"threshold": t.velocity})
        if old_score <= t.manual_review < new_score:
            self.flag(user_id, "manual_review", "medium", {"score": new_score})

    def tampered_token(self, user_id: int, penalty_level: int, origin: Origin) -> None:
        """A token with our shape but a bad signature: flag critical and suspend."""
        self.flag(user_id, "tampered_token", "critical", {"ip": origin.ip}, origin)
        self.suspend(user_id, penalty_level, "TOKEN_INVALID", origin)

    def registration(self, conn: Connection, user_id: int, origin: Origin) -> None:
        """Too many accounts from one address in a day: flag the new one (low)."""
        if not origin.ip:
            return
        since = datetime.fromtimestamp(self.clock(), UTC) - timedelta(hours=24)
        count = conn.execute(_REGISTRATIONS, {"ip": origin.ip, "since": since}).scalar_one()
        if count > self.t.accounts_per_ip:
            self._flag(conn, user_id, "accounts_per_ip", "low", {"ip": origin.ip, "count": count}, origin)

    def suspend(self, user_id: int, level: int, reason: str, origin: Origin) -> None:
        """Suspend for the player's next penalty step."""
        steps = self.t.penalty_steps
        seconds = steps[min(level, len(steps) - 1)]
        now = datetime.fromtimestamp(self.clock(), UTC)
        until = now + timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            conn.execute(_SUSPEND, {"until": until, "level": level + 1, "uid": user_id})
            write_audit(
                conn,
                audit_row(
                    "fraud.suspended",
                    "success",
                    origin,
                    subject=user_id,
                    reason=reason,
                    details={"until": until.isoformat(), "seconds": seconds},
                    at=now,
                ),
            )

    def flag(
        self, user_id: int, rule: str, severity: str, details: dict[str, Any], origin: Origin | None = None
    ) -> None:
        """Open a flag unless one is already open for this rule."""
        with self.engine.begin() as conn:
            self._flag(conn, user_id, rule, severity, details, origin or Origin())

    def _flag(
        self,
        conn: Connection,
        user_id: int,
        rule: str,
        severity: str,
        details: dict[str, Any],
        origin: Origin,
    ) -> None:
        if conn.execute(_OPEN, {"uid": user_id, "rule": rule}).first():
            return
        now = datetime.fromtimestamp(self.clock(), UTC)
        conn.execute(
            _FLAG,
            {
                "user_id": user_id,
                "rule": rule,
                "severity": severity,
                "details": details,
                "status": "open",
                "created_at": now,
            },
        )
        conn.execute(_MARK, {"uid": user_id})
        write_audit(
            conn,
            audit_row(
                "fraud.flagged",
                "success",
                origin,
                subject=user_id,
                reason=rule,
                details={"severity": severity, **details},
                at=now,
            ),
        )
        log.info("fraud flag %s (%s) on user %s", rule, severity, user_id)
