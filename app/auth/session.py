"""Browser sessions with flask-login: who is signed in, and cookies Secure over HTTPS."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import login_user, logout_user
from itsdangerous import URLSafeTimedSerializer

from app.extensions import db, login_manager
from app.models.users import User


class SessionInterface(SecureCookieSessionInterface):
    """`Secure` whenever the request came over HTTPS (behind ProxyFix too), or when forced.

    A request without a session cookie (API clients) gets an empty session without building a
    signing serializer; the serializer is built once per set of keys, not once per request.
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self._serializers:
            self._serializers = {keys: super().get_signing_serializer(app)}
        return self._serializers[keys]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


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
