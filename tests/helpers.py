"""Factories and small helpers for API tests."""

from __future__ import annotations

import itertools
from typing import Any

from flask.testing import FlaskClient

_names = itertools.count(1)


class Player:
    """A registered player driving the API like a client would."""

    def __init__(self, client: FlaskClient, username: str | None = None, password: str = "password123"):
        self.client = client
        self.username = username or f"player{next(_names)}"
        self.password = password
        r = client.post(
            "/api/v1/auth/register",
            json={"username": self.username, "email": f"{self.username}@example.com", "password": password},
        )
        assert r.status_code == 201, r.get_json()
        self.tokens: dict[str, Any] = r.get_json()
        self.id: int = self.tokens["user"]["id"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def post(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def action_token(self, action_type: str = "complete_task") -> str:
        r = self.post("/api/v1/actions/token", {"action_type": action_type})
        assert r.status_code == 201, r.get_json()
        return r.get_json()["action_token"]

    def submit(self, token: str):  # type: ignore[no-untyped-def]
        return self.post("/api/v1/scores", {"action_token": token})

    def score(self, times: int = 1, action_type: str = "complete_task") -> dict[str, Any]:
        """Perform the action `times` times (token, then submit, reusing next_action_token)."""
        token = self.action_token(action_type)
        data: dict[str, Any] = {}
        for _ in range(times):
            r = self.submit(token)
            assert r.status_code == 200, r.get_json()
            data = r.get_json()["data"]
            token = data["next_action_token"] or self.action_token(action_type)
        return data


def error_code(response: Any) -> str:
    body = response.get_json()
    assert body["success"] is False, body
    return body["error"]["code"]


def admin_player(app: Any, client: FlaskClient, username: str = "boss") -> Player:
    """A registered player made an admin, holding a token with the `admin` scope."""
    from sqlalchemy import text

    from app.extensions import db

    boss = Player(client, username)
    with app.app_context():
        db.session.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": boss.id})
        db.session.commit()
    r = client.post("/api/v1/auth/login", json={"username": username, "password": boss.password})
    assert r.status_code == 200 and "admin" in r.get_json()["scope"].split(), r.get_json()
    boss.tokens = r.get_json()
    return boss


def oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error body with this status and error code; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}
    assert isinstance(body.get("error_description", ""), str)
    assert response.headers.get("Cache-Control") == "no-store"
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    return body
