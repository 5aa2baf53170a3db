"""A player's own data: export everything held on them; erase the account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from app.models import AuditLog, BoardScore, FraudFlag, OAuthAccount, OAuthToken, ScoreEvent, User
from app.models.boards import MAIN
from app.scoring.board import iso
from app.scoring.moderation import Moderation
from app.shapes import JSONObject, TypedDict, closed


def _row(obj: Any, fields: list[str]) -> dict[str, Any]:
    out = {}
    for f in fields:
        value = getattr(obj, f)
        out[f] = iso(value) if isinstance(value, datetime) else value
    return out


@closed
class Export(TypedDict):
    """Everything held on a player (GET /api/v1/me/export)."""

    profile: JSONObject
    boards: list[JSONObject]  # the player's score on every board and period they played
    score_events: list[JSONObject]
    audit_log: list[JSONObject]
    fraud_flags: list[JSONObject]
    connected_accounts: list[JSONObject]


def export_user(engine: Engine, user_id: int) -> Export:
    """Everything held on a player: profile, score events, audit rows and flags about them."""
    with engine.connect() as conn:
        user = conn.execute(select(User).where(User.id == user_id)).one()
        events = conn.execute(select(ScoreEvent).where(ScoreEvent.user_id == user_id).order_by(ScoreEvent.id))
        audit = conn.execute(
            select(AuditLog).where(AuditLog.subject_user_id == user_id).order_by(AuditLog.id)
        )
        flags = conn.execute(select(FraudFlag).where(FraudFlag.user_id == user_id).order_by(FraudFlag.id))
        links = conn.execute(select(OAuthAccount).where(OAuthAccount.user_id == user_id))
        played = conn.execute(
            select(BoardScore)
            .where(BoardScore.user_id == user_id)
            .order_by(BoardScore.board, BoardScore.period, BoardScore.period_key)
        )
        boards: list[JSONObject] = []
        if user.score_updated_at is not None:  # main's all-time score is the users row
            main = {"board": MAIN, "period": "all", "period_key": "all", "score": user.score}
            boards.append({**main, "score_updated_at": iso(user.score_updated_at)})
        boards += [_row(b, ["board", "period", "period_key", "score", "score_updated_at"]) for b in played]
        return {
            "profile": _row(
                user,
                [
                    "id",
                    "username",
                    "email",
                    "display_name",
                    "role",
                    "score",
                    "score_updated_at",
                    "is_hidden",
                    "is_banned",
                    "created_at",
                ],
            ),
            "boards": boards,
            "score_events": [
                _row(
                    e,
                    [
                        "board",
                        "action_id",
                        "action_type",
                        "points",
                        "score_after",
                        "source",
                        "ip",
                        "user_agent",
                        "created_at",
                    ],
                )
                for e in events
            ],
            "audit_log": [
                _row(a, ["event", "outcome", "reason_code", "ip", "user_agent", "details", "created_at"])
                for a in audit
            ],
            "fraud_flags": [_row(f, ["rule", "severity", "status", "created_at"]) for f in flags],
            "connected_accounts": [_row(link, ["provider", "email", "created_at"]) for link in links],
        }


def erase_user(moderation: Moderation, user_id: int) -> None:
    """Delete an account: off the board (broadcast), personal data erased, score events anonymised;
    one transaction."""

    def anonymise(conn: Connection) -> None:
        conn.execute(
            update(ScoreEvent)
            .where(ScoreEvent.user_id == user_id)
            .values(user_id=None, ip=None, user_agent=None)
        )
        conn.execute(
            update(AuditLog)
            .where(AuditLog.subject_user_id == user_id)
            .values(ip=None, user_agent=None, details=None)
        )
        conn.execute(delete(OAuthToken).where(OAuthToken.user_id == user_id))
        conn.execute(delete(OAuthAccount).where(OAuthAccount.user_id == user_id))

    erased = {
        "username": f"deleted-{user_id}",
        "email": None,
        "password_hash": None,
        "display_name": "Deleted player",
    }
    moderation.erase(user_id, erased, anonymise)
