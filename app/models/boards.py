"""Boards (SPEC §14) and each player's score per board and period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.types import BigId, Json, UTCDateTime, utcnow

MAIN = "main"  # the board every endpoint without a board means; it always exists


class Board(Model):
    """A board: its own action catalog, the periods it ranks over and the zone its days start in.

    Other tables name a board by its slug, which never changes (SPEC §14).
    """

    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    # action_type -> {points, cooldown_seconds, max_per_hour}; NULL: the deployment's ACTION_CATALOG
    catalog: Mapped[dict[str, Any] | None] = mapped_column(Json)
    periods: Mapped[list[str]] = mapped_column(Json, default=list)  # of daily, weekly, monthly
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BoardScore(Model):
    """A player's score on one board in one period (`all`, or a period key such as 2026-W49).

    The `main` board's all-time score is `users.score`; every other (board, period) is here.
    """

    __tablename__ = "board_scores"

    board: Mapped[str] = mapped_column(ForeignKey("boards.slug", ondelete="CASCADE"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(10), primary_key=True)  # all | 2026-12-02 | ...
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8))  # all | daily | weekly | monthly
    score: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    score_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rank_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        # the ranking order of SPEC §4 within one (board, period key)
        Index(
            "ix_board_scores_rank",
            board,
            period_key,
            score.desc(),
            score_updated_at.asc(),
            user_id.asc(),
        ),
    )


class StreamState(Model):
    """The newest seq and last-updated time of one (board, period) live stream, `main`'s all-time
    stream excepted (that is `board_state`): bumped in each changing transaction in the embedded
    mode, persisted from Redis in production so a restarted Redis never counts backwards."""

    __tablename__ = "stream_state"

    board: Mapped[str] = mapped_column(ForeignKey("boards.slug", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
