"""Players and admins."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.types import BigId, UTCDateTime, utcnow

RANKED_SQL = "score_updated_at IS NOT NULL AND NOT is_banned AND NOT is_hidden"


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="player", server_default="player")
    score: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # NULL while off the board: never scored, or reset by an admin.
    score_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped with every change that can move the player on the board; guards the rank index.
    rank_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    is_banned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    banned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    penalty_level: Mapped[int] = mapped_column(default=0, server_default="0")
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "ix_users_leaderboard",
            score.desc(),
            score_updated_at.asc(),
            id.asc(),
            postgresql_where=text(RANKED_SQL),
            sqlite_where=text(RANKED_SQL),
        ),
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_ranked(self) -> bool:
        return self.score_updated_at is not None and not self.is_banned and not self.is_hidden

    def get_user_id(self) -> int:
        """Authlib's name for the subject id."""
        return self.id
