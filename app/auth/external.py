"""Sign-in through an external provider: find the player by (provider, subject), or create one;
connect and disconnect providers. Plain values in, no request here."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.audit import Origin, audit_row, write_audit
from app.auth.accounts import EMAIL_RE, create_user
from app.errors import ScoreboardError
from app.fraud.rules import FraudRules
from app.models.oauth import OAuthAccount
from app.models.users import User

_NOT_USERNAME = re.compile(r"[^A-Za-z0-9_.-]+")

AnySession = Session | scoped_session[Any]  # a plain session or Flask-SQLAlchemy's


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in. `email` is set only when the provider verified it."""

    provider: str
    subject: str
    username: str | None = None
    display_name: str | None = None
    email: str | None = None


def fit_username(wanted: str | None) -> str:
    """The provider's name for the player fitted to our rule ([A-Za-z0-9_.-], 3–32 characters)."""
    name = _NOT_USERNAME.sub("", (wanted or "").split("@")[0])[:32].strip(".-")
    return name if len(name) >= 3 else (name + "player")[:32]


def unique_username(session: AnySession, wanted: str | None) -> str:
    """`fit_username(wanted)`, with a suffix when another player has it."""
    base = fit_username(wanted)
    for n in [None, *range(2, 10)]:
        suffix = f"-{n}" if n else ""
        name = base[: 32 - len(suffix)] + suffix
        if not _username_taken(session, name):
            return name
    return base[:25] + "-" + secrets.token_hex(3)


def _username_taken(session: AnySession, name: str) -> bool:
    return (
        session.execute(select(User.id).where(func.lower(User.username) == name.lower())).first() is not None
    )


def _usable_email(session: AnySession, email: str | None) -> str | None:
    """A verified email we may store: well formed and no other player's (never a reason to link)."""
    if not email or len(email) > 254 or not EMAIL_RE.fullmatch(email):
        return None
    taken = session.execute(select(User.id).where(User.email == email.lower())).first()
    return None if taken else email.lower()


def _display_name(identity: Identity, username: str) -> str:
    name = " ".join((identity.display_name or "").split())
    return name[:64] if name and name.isprintable() else username


def is_banned(user: User, now: datetime | None = None) -> bool:
    """Banned for good, or until a time still ahead."""
    if not user.is_banned:
        return False
    until = user.banned_until
    return until is None or until > (now or datetime.now(UTC))


def refuse_banned(session: AnySession, user: User, identity: Identity, origin: Origin) -> None:
    """:raise ScoreboardError ACCOUNT_BANNED: after writing the refused login to the audit log."""
    if is_banned(user):
        login_failed(session, identity.provider, "ACCOUNT_BANNED", origin, user_id=user.id)
        raise ScoreboardError("ACCOUNT_BANNED", "This account is banned.")


def login_failed(
    session: AnySession,
    provider: str,
    reason: str,
    origin: Origin,
    *,
    user_id: int | None = None,
    detail: str = "",
) -> None:
    """Write (and commit) an `auth.login_failed` row naming the provider."""
    details = {"provider": provider, **({"detail": detail[:200]} if detail else {})}
    row = audit_row("auth.login_failed", "failure", origin, subject=user_id, reason=reason, details=details)
    write_audit(session.connection(), row)
    session.commit()


def sign_in_external(
    session: AnySession, identity: Identity, *, hash_method: str, origin: Origin, rules: FraudRules | None
) -> tuple[User, bool]:
    """The player linked to this identity, created on first sign-in; True when just created.

    Links by (provider, subject) only, never by email. The caller commits.
    :raise ScoreboardError ACCOUNT_BANNED: the linked player is banned.
    """
    link = _link(session, identity)
    if link is not None:
        user = session.get(User, link.user_id)
        assert user is not None
        refuse_banned(session, user, identity, origin)
        _audit_login(session, user.id, identity, origin)
        return user, False
    try:
        with session.begin_nested():
            user = create_user(
                session,
                unique_username(session, identity.username),
                _usable_email(session, identity.email),
                None,
                hash_method=hash_method,
                origin=origin,
                rules=rules,
            )
            user.display_name = _display_name(identity, user.username)
            session.add(_account(identity, user.id))
            session.flush()
    except (IntegrityError, ScoreboardError):  # a concurrent first sign-in of the same identity won
        link = _link(session, identity)
        if link is None:
            raise
        user = session.get(User, link.user_id)
        assert user is not None
        return user, False
    _audit_login(session, user.id, identity, origin)
    return user, True


def connect(session: AnySession, user: User, identity: Identity, origin: Origin) -> None:
    """Link another provider to a signed-in player. The caller commits.

    :raise ScoreboardError ALREADY_EXISTS: that identity belongs to another player, or the player
        already has an account at this provider.
    """
    link = _link(session, identity)
    if link is not None and link.user_id == user.id:
        return
    if link is not None:
        raise ScoreboardError("ALREADY_EXISTS", "That account is already connected to another player.")
    if connected(session, user.id).get(identity.provider):
        raise ScoreboardError("ALREADY_EXISTS", "You already have an account of this provider connected.")
    session.add(_account(identity, user.id))
    session.flush()
    details = {"provider": identity.provider}
    write_audit(
        session.connection(),
        audit_row("auth.connected", "success", origin, subject=user.id, actor=user.id, details=details),
    )


def disconnect(session: AnySession, user: User, provider: str, origin: Origin) -> None:
    """Unlink a provider while another way to sign in remains. The caller commits.

    :raise ScoreboardError NOT_FOUND: not connected; FORBIDDEN: it is the last way to sign in.
    """
    links = connected(session, user.id)
    if provider not in links:
        raise ScoreboardError("NOT_FOUND", "That provider is not connected.")
    if not user.password_hash and len(links) == 1:
        raise ScoreboardError(
            "FORBIDDEN", "This is your only way to sign in: connect another provider before removing it."
        )
    session.delete(links[provider])
    details = {"provider": provider}
    write_audit(
        session.connection(),
        audit_row("auth.disconnected", "success", origin, subject=user.id, actor=user.id, details=details),
    )


def connected(session: AnySession, user_id: int) -> dict[str, OAuthAccount]:
    """The player's provider accounts by provider name."""
    rows = session.execute(select(OAuthAccount).filter_by(user_id=user_id).order_by(OAuthAccount.id))
    return {a.provider: a for a in rows.scalars()}


def _link(session: AnySession, identity: Identity) -> OAuthAccount | None:
    query = select(OAuthAccount).filter_by(provider=identity.provider, subject=identity.subject)
    return session.execute(query).scalar_one_or_none()


def _account(identity: Identity, user_id: int) -> OAuthAccount:
    email = identity.email if identity.email and len(identity.email) <= 254 else None
    return OAuthAccount(
        provider=identity.provider, subject=identity.subject[:255], user_id=user_id, email=email
    )


def _audit_login(session: AnySession, user_id: int, identity: Identity, origin: Origin) -> None:
    details = {"provider": identity.provider}
    write_audit(
        session.connection(),
        audit_row("auth.login", "success", origin, subject=user_id, actor=user_id, details=details),
    )
