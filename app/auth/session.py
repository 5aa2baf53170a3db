"""Browser sessions with flask-login: who is signed in, and cookies Secure over HTTPS."""

from __future__ import annotations

import secrets

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from app.extensions import db, login_manager
from app.models.users import User


class SessionInterface(SecureCookieSessionInterface):
    """`Secure` whenever the request came over HTTPS (behind ProxyFix too), or when forced."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and not user.is_deleted else None


def sign_in(user: User) -> None:
    """Start a fresh browser session (its id keys the per-session score limit)."""
    session.clear()
    login_user(user)
    session["sid"] = secrets.token_urlsafe(12)


def sign_out() -> None:
    logout_user()
    session.clear()


def init_sessions(app: Flask) -> None:
    app.session_interface = SessionInterface()
    login_manager.login_view = "web.login"
    login_manager.login_message = "Sign in to play."
