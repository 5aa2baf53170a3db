"""The admin's reads (flags, players, audit log; paged) and the resolution of fraud flags.

Plain functions over the engine: the admin API, the admin page and tests call the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from app.audit import Origin, audit_row, write_audit
from app.errors import ScoreboardError
from app.models import AuditLog, FraudFlag, ScoreEvent, User
from app.scoring.board import iso
from app.scoring.moderation import Moderation
from app.shapes import JSONObject, MaybeTime, Time, TypedDict, closed

R = TypeVar("R")
PAGE_SIZE = 50
DETAIL_ROWS = 50  # newest score events and audit rows on a player's page
RESOLUTIONS = ("cleared", "confirmed")


@closed
class AdminUser(TypedDict):
    """A player as the admin sees them."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Literal["player", "admin"]
    score: int
    score_updated_at: MaybeTime
    is_banned: bool
    banned_until: MaybeTime
    suspended_until: MaybeTime
    penalty_level: int
    is_hidden: bool
    is_flagged: bool
    created_at: Time


@closed
class ScoreEventRow(TypedDict):
    id: int
    action_id: str
    action_type: str
    points: int
    score_after: int
    source: Literal["action", "admin"]
    ip: str | None
    created_at: Time


@closed
class AuditRow(TypedDict):
    id: int
    actor_user_id: int | None
    subject_user_id: int | None
    event: str
    outcome: str
    reason_code: str | None
    ip: str | None
    user_agent: str | None
    details: JSONObject | None
    created_at: Time


@closed
class FlagRow(TypedDict):
    id: int
    user_id: int | None
    username: str | None
    rule: str
    severity: Literal["low", "medium", "high", "critical"]
    details: JSONObject | None
    status: Literal["open", "cleared", "confirmed"]
    created_at: Time
    resolved_by: int | None
    resolved_at: MaybeTime


@closed
class PlayerDetail(TypedDict):
    """One player with their newest score events and audit rows, and every flag."""

    user: AdminUser
    score_events: list[ScoreEventRow]
    flags: list[FlagRow]
    audit: list[AuditRow]


@closed
class FlagPage(TypedDict):
    flags: list[FlagRow]
    page: int
    pages: int
    total: int


@closed
class UserPage(TypedDict):
    users: list[AdminUser]
    page: int
    pages: int
    total: int


@closed
class AuditPage(TypedDict):
    entries: list[AuditRow]
    page: int
    pages: int
    total: int


# Each row is read into exactly the fields of its type, so a body and its schema cannot differ.
_USER_FIELDS = tuple(AdminUser.__annotations__)
_EVENT_FIELDS = tuple(ScoreEventRow.__annotations__)
_AUDIT_FIELDS = tuple(AuditRow.__annotations__)
_FLAG_FIELDS = tuple(k for k in FlagRow.__annotations__ if k != "username")


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    items: list[R]
    page: int
    pages: int
    total: int


def as_json(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a row, times as the API writes them."""
    out = {}
    for f in fields:
        value = getattr(row, f)
        out[f] = iso(value) if isinstance(value, datetime) else value
    return out


def parse_time(raw: str) -> datetime:
    """An ISO 8601 time, UTC when it names no zone.

    :raise ValueError: not ISO 8601.
    """
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paged(engine: Engine, query: Select[Any], page: int, shape: Callable[[Any], R]) -> Page[R]:
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
        rows = conn.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return Page([shape(r) for r in rows], page, max(1, math.ceil(total / PAGE_SIZE)), total)


def _flag_json(row: Any) -> FlagRow:
    return cast(FlagRow, {**as_json(row, _FLAG_FIELDS), "username": row.username})


def _user_json(row: Any) -> AdminUser:
    return cast(AdminUser, as_json(row, _USER_FIELDS))


def _audit_json(row: Any) -> AuditRow:
    return cast(AuditRow, as_json(row, _AUDIT_FIELDS))


def _flag_query() -> Select[Any]:
    """Flags with their player's username, newest first."""
    return (
        select(FraudFlag.__table__, User.username)
        .join(User, User.id == FraudFlag.user_id, isouter=True)
        .order_by(FraudFlag.created_at.desc(), FraudFlag.id.desc())
    )


def flags(engine: Engine, status: str | None, page: int) -> Page[FlagRow]:
    """Fraud flags, newest first; `status` None: all."""
    query = _flag_query()
    if status:
        query = query.where(FraudFlag.status == status)
    return _paged(engine, query, page, _flag_json)


def players(engine: Engine, q: str, page: int) -> Page[AdminUser]:
    """Players whose username, display name or email contains `q` (any case); flagged first."""
    query = select(User.__table__).where(~User.is_deleted)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                User.username.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            )
        )
    query = query.order_by(User.is_flagged.desc(), User.score.desc(), User.id)
    return _paged(engine, query, page, _user_json)


def player(engine: Engine, user_id: int) -> PlayerDetail:
    """One player with their newest score events and audit rows, and every flag.

    :raise ScoreboardError NOT_FOUND: no such player.
    """
    with engine.connect() as conn:
        user = conn.execute(select(User.__table__).where(User.id == user_id, ~User.is_deleted)).first()
        if user is None:
            raise ScoreboardError("NOT_FOUND", f"No player with id {user_id}.")
        events = conn.execute(
            select(ScoreEvent.__table__)
            .where(ScoreEvent.user_id == user_id)
            .order_by(ScoreEvent.id.desc())
            .limit(DETAIL_ROWS)
        ).all()
        found = conn.execute(_flag_query().where(FraudFlag.user_id == user_id)).all()
        audit = conn.execute(
            select(AuditLog.__table__)
            .where(or_(AuditLog.subject_user_id == user_id, AuditLog.actor_user_id == user_id))
            .order_by(AuditLog.id.desc())
            .limit(DETAIL_ROWS)
        ).all()
    return {
        "user": _user_json(user),
        "score_events": [cast(ScoreEventRow, as_json(e, _EVENT_FIELDS)) for e in events],
        "flags": [_flag_json(f) for f in found],
        "audit": [_audit_json(a) for a in audit],
    }


def audit_log(
    engine: Engine,
    page: int,
    user_id: int | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditRow]:
    """Audit rows, newest first, about or by `user_id`, of one `event`, in [since, until)."""
    query = select(AuditLog.__table__).order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    if user_id is not None:
        query = query.where(or_(AuditLog.subject_user_id == user_id, AuditLog.actor_user_id == user_id))
    if event:
        query = query.where(AuditLog.event == event)
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    if until is not None:
        query = query.where(AuditLog.created_at < until)
    return _paged(engine, query, page, _audit_json)


def resolve_flag(
    engine: Engine,
    moderation: Moderation,
    actor: int,
    flag_id: int,
    resolution: str,
    reason: str,
    origin: Origin,
) -> FlagRow:
    """Clear a flag, or confirm it and ban the player until unbanned, in one transaction; the
    player stays flagged while any of their flags is open.

    :raise ScoreboardError: NOT_FOUND (no such flag), INVALID_REQUEST (already resolved, or an
        unknown resolution).
    """
    if resolution not in RESOLUTIONS:
        raise ScoreboardError("INVALID_REQUEST", "resolution: must be 'cleared' or 'confirmed'")
    table = FraudFlag.__table__
    with engine.connect() as conn:
        flag = conn.execute(select(table).where(table.c.id == flag_id)).first()
    if flag is None:
        raise ScoreboardError("NOT_FOUND", f"No flag with id {flag_id}.")

    now = datetime.now(UTC)

    def resolve(conn: Connection) -> None:
        done = conn.execute(
            update(table)
            .where(table.c.id == flag_id, table.c.status == "open")
            .values(status=resolution, resolved_by=actor, resolved_at=now)
        )
        if done.rowcount != 1:
            raise ScoreboardError("INVALID_REQUEST", f"Flag {flag_id} is already {flag.status}.")
        still_open = select(table.c.id).where(table.c.user_id == flag.user_id, table.c.status == "open")
        conn.execute(update(User).where(User.id == flag.user_id).values(is_flagged=still_open.exists()))
        details = {"flag_id": flag_id, "rule": flag.rule, "reason": reason}
        row = audit_row(
            f"admin.flag_{resolution}",
            "success",
            origin,
            subject=flag.user_id,
            actor=actor,
            reason=reason[:64],
            details=details,
            at=now,
        )
        write_audit(conn, row)

    if resolution == "confirmed" and flag.user_id is not None:
        moderation.ban(actor, flag.user_id, f"flag {flag_id} confirmed: {reason}", None, origin, resolve)
    else:
        with engine.begin() as conn:
            resolve(conn)
    with engine.connect() as conn:
        row = conn.execute(
            select(table, User.username)
            .join(User, User.id == table.c.user_id, isouter=True)
            .where(table.c.id == flag_id)
        ).one()
    return _flag_json(row)


def activity(engine: Engine, seconds: int = 60) -> dict[str, int]:
    """Accepted and rejected score submissions in the last `seconds` (from the audit log)."""
    since = datetime.now(UTC) - timedelta(seconds=seconds)
    query = (
        select(AuditLog.event, func.count())
        .where(AuditLog.event.in_(("score.accepted", "score.rejected")), AuditLog.created_at >= since)
        .group_by(AuditLog.event)
    )
    with engine.connect() as conn:
        counts = dict(conn.execute(query).all())
    return {"accepted": counts.get("score.accepted", 0), "rejected": counts.get("score.rejected", 0)}
