"""Writing audit rows: every accepted and refused attempt, every admin act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from app.models.audit import AuditLog
from app.models.types import utcnow

_INSERT = AuditLog.__table__.insert()


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the audit log records it."""

    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, ip: str | None, user_agent: str | None) -> Origin:
        return cls(ip[:64] if ip else None, user_agent[:256] if user_agent else None)


SYSTEM = Origin()


def audit_row(
    event: str,
    outcome: str,
    origin: Origin,
    *,
    subject: int | None = None,
    actor: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The values of one audit row."""
    return {
        "event": event,
        "outcome": outcome,
        "reason_code": reason,
        "subject_user_id": subject,
        "actor_user_id": actor,
        "ip": origin.ip,
        "user_agent": origin.user_agent,
        "details": details,
        "created_at": at or utcnow(),
    }


def write_audit(conn: Connection, *rows: dict[str, Any]) -> None:
    """Insert audit rows on an open connection (inside the caller's transaction)."""
    if rows:
        conn.execute(_INSERT, list(rows))
