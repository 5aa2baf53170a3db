"""OAuth: login links, API clients, refresh-token families, codes, signing keys."""

from __future__ import annotations

import time
from datetime import datetime

from authlib.integrations.sqla_oauth2 import OAuth2AuthorizationCodeMixin, OAuth2ClientMixin
from authlib.oauth2.rfc6749 import TokenMixin
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model, db
from app.models.types import BigId, UTCDateTime, utcnow


class OAuthAccount(Model):
    """A player's identity at an external login provider."""

    __tablename__ = "oauth_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("provider", "subject"),)


class OAuthClient(Model, OAuth2ClientMixin):
    """A registered API client; `scoreboard-web` is the built-in public one."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    __table_args__ = (UniqueConstraint("client_id"),)


class OAuthAuthorizationCode(Model, OAuth2AuthorizationCodeMixin):
    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class OAuthToken(Model, TokenMixin):
    """One issued token pair. Refresh tokens are stored hashed and rotate within a family."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(48))
    family_id: Mapped[str] = mapped_column(String(48), index=True)
    access_jti: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[int] = mapped_column(BigInteger, default=lambda: int(time.time()))
    expires_in: Mapped[int] = mapped_column(Integer, default=0)
    refresh_expires_at: Mapped[int] = mapped_column(BigInteger, default=0)
    rotated_at: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_at: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_oauth_tokens_user_family", "user_id", "family_id"),)

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.issued_at + self.expires_in < time.time()

    def is_revoked(self) -> bool:
        return bool(self.revoked_at)

    def get_user(self) -> object:
        return db.session.get(_user_model(), self.user_id)

    def get_client(self) -> OAuthClient | None:
        return db.session.execute(
            db.select(OAuthClient).filter_by(client_id=self.client_id)
        ).scalar_one_or_none()


class SigningKey(Model):
    """An RSA key for access tokens, encrypted at rest; the newest active one signs."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _user_model() -> type:
    from app.models.users import User

    return User
