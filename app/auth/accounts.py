"""Local accounts: register and sign in with a username and password."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, scoped_session
from werkzeug.security import check_password_hash, generate_password_hash

from app.audit import Origin, audit_row, write_audit
from app.errors import ScoreboardError
from app.fraud.limits import RateLimits
from app.fraud.rules import FraudRules
from app.models.users import User
from app.text import EMAIL_RE, USERNAME_RE

# Checked against when the username is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password", "pbkdf2:sha256:1000")


def validate_new_account(username: str, email: str | None, password: str | None) -> None:
    """:raise ScoreboardError INVALID_REQUEST: naming which field is wrong."""
    if not USERNAME_RE.fullmatch(username):
        raise ScoreboardError("INVALID_REQUEST", "username: 3–32 characters of letters, digits, _ . -")
    if email is not None and (len(email) > 254 or not EMAIL_RE.fullmatch(email)):
        raise ScoreboardError("INVALID_REQUEST", "email: not a valid address")
    if password is not None and not 8 <= len(password) <= 128:
        raise ScoreboardError("INVALID_REQUEST", "password: 8–128 characters")


def create_user(
    session: Session | scoped_session[Any],
    username: str,
    email: str | None,
    password: str | None,
    *,
    hash_method: str,
    role: str = "player",
    origin: Origin | None = None,
    rules: FraudRules | None = None,
) -> User:
    """Create a player (or admin).

    :raise ScoreboardError: INVALID_REQUEST, ALREADY_EXISTS.
    """
    validate_new_account(username, email, password)
    email = email.lower() if email else None
    taken = session.execute(
        select(User.id).where(
            or_(
                func.lower(User.username) == username.lower(),
                User.email == email if email else false(),
            )
        )
    ).first()
    if taken:
        raise ScoreboardError("ALREADY_EXISTS", "That username or email is already registered.")
    user = User(
        username=username,
        email=email,
        display_name=username,
        role=role,
        password_hash=generate_password_hash(password, hash_method) if password else None,
    )
    session.add(user)
    session.flush()
    origin = origin or Origin()
    conn = session.connection()
    write_audit(conn, audit_row("auth.register", "success", origin, subject=user.id, actor=user.id))
    if rules is not None:
        rules.registration(conn, user.id, origin)
    return user


def authenticate(
    session: Session | scoped_session[Any],
    username: str,
    password: str,
    *,
    origin: Origin,
    limits: RateLimits,
    failures_limit: str,
    enabled: bool = True,
) -> User:
    """The user for a correct username and password.

    :raise ScoreboardError: RATE_LIMITED after too many failures, UNAUTHORIZED otherwise.
    """
    key = username.lower()
    wait = limits.peek(failures_limit, "login", key) if enabled else 0
    if wait:
        raise ScoreboardError("RATE_LIMITED", "Too many failed sign-ins; try again later.", retry_after=wait)
    user = session.execute(
        select(User).where(func.lower(User.username) == key, User.is_deleted.is_(False))
    ).scalar_one_or_none()
    ok = check_password_hash(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    if user is None or not user.password_hash or not ok:
        if enabled:
            limits.hit(failures_limit, "login", key)
        write_audit(
            session.connection(),
            audit_row(
                "auth.login_failed",
                "failure",
                origin,
                subject=user.id if user else None,
                reason="UNAUTHORIZED",
                details={"username": username[:64]},
            ),
        )
        session.commit()
        raise ScoreboardError("UNAUTHORIZED", "Wrong username or password.")
    write_audit(
        session.connection(), audit_row("auth.login", "success", origin, subject=user.id, actor=user.id)
    )
    return user
