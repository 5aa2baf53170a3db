"""Score history and the deployment-wide board counter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.boards import MAIN
from app.models.types import BigId, UTCDateTime, utcnow


class ScoreEvent(Model):
    """One accepted change of a player's score; append-only."""

    __tablename__ = "score_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    board: Mapped[str] = mapped_column(  # the board it counted on
        ForeignKey("boards.slug"), default=MAIN, server_default=MAIN
    )
    action_id: Mapped[str] = mapped_column(String(64), unique=True)
    action_type: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    score_after: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))  # action | admin
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_score_events_user_created", "user_id", "created_at"),
        # a player's history on one board (app/scoring/history.py): one lookup per point
        Index("ix_score_events_user_board_created", "user_id", "board", "created_at"),
    )


class BoardState(Model):
    """A single row: `seq` counts ranking changes; bumped inside each changing transaction."""

    __tablename__ = "board_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
