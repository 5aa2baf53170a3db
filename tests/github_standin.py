"""A local stand-in for GitHub's documented OAuth and REST API, because GitHub is not reachable from
the test machine. It answers exactly the shapes GitHub documents for an OAuth app:

- `GET /login/oauth/authorize` (client_id, redirect_uri, scope, state, code_challenge[_method]):
  GitHub asks the user, then redirects to redirect_uri with `code` and `state`, or with
  `error=access_denied&error_description=…&error_uri=…` when they cancel.
- `POST /login/oauth/access_token` (client_id, client_secret, code, redirect_uri, code_verifier):
  with `Accept: application/json`, `{"access_token", "token_type": "bearer", "scope"}`; a bad code
  is still HTTP 200, with `{"error": "bad_verification_code", "error_description", "error_uri"}`.
- `GET /user` and `GET /user/emails` with `Authorization: Bearer <token>`: the account
  (`id` is the stable subject, `login` can change) and its addresses
  (`[{"email", "primary", "verified", "visibility"}]`); `401 {"message": "Bad credentials"}` otherwise.

What the user does on GitHub's consent page is set by the test: `users[login]` and `decision`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

DOCS = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
)


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None
    emails: list[dict[str, Any]] = field(default_factory=list)


class GitHubStandIn:
    """The stand-in served on a free port in a thread; `authorize_requests` records what it got."""

    def __init__(self, client_id: str, client_secret: str):
        self.client_id, self.client_secret = client_id, client_secret
        self.next_login: str = ""
        self.decision = "allow"
        self.users: dict[str, GitHubUser] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.codes: dict[str, tuple[str, str, str | None]] = {}  # code → (login, redirect_uri, challenge)
        self.tokens: dict[str, str] = {}  # access token → login
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def settings(self) -> dict[str, str]:
        return {
            "GITHUB_CLIENT_ID": self.client_id,
            "GITHUB_CLIENT_SECRET": self.client_secret,
            "GITHUB_AUTHORIZE_URL": f"{self.url}/login/oauth/authorize",
            "GITHUB_TOKEN_URL": f"{self.url}/login/oauth/access_token",
            "GITHUB_API_BASE": self.url,
        }

    def close(self) -> None:
        self.server.shutdown()

    def _build(self) -> Flask:
        app = Flask("github-standin")

        @app.get("/login/oauth/authorize")
        def authorize() -> Any:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            back = args["redirect_uri"]
            if self.decision != "allow":
                error = {
                    "error": "access_denied",
                    "error_description": "The user has denied your application access.",
                }
                return redirect(
                    f"{back}?{urlencode({**error, 'error_uri': DOCS, 'state': args.get('state', '')})}"
                )
            code = secrets.token_hex(10)
            self.codes[code] = (self.next_login, back, args.get("code_challenge"))
            return redirect(f"{back}?{urlencode({'code': code, 'state': args.get('state', '')})}")

        @app.post("/login/oauth/access_token")
        def access_token() -> Any:
            form = request.form
            auth = request.authorization
            client_id = form.get("client_id") or (auth.username if auth else None)
            secret = form.get("client_secret") or (auth.password if auth else None)
            if (client_id, secret) != (self.client_id, self.client_secret):
                return _error(
                    "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."
                )
            grant = self.codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or grant[1] != form.get("redirect_uri")
                or not _pkce_ok(grant[2], form.get("code_verifier"))
            ):
                return _error("bad_verification_code", "The code passed is incorrect or expired.")
            token = "gho_" + secrets.token_hex(18)
            self.tokens[token] = grant[0]
            assert "application/json" in request.headers.get("Accept", "")
            return jsonify(access_token=token, token_type="bearer", scope="read:user,user:email")

        def bad_credentials() -> Any:
            return jsonify(message="Bad credentials", documentation_url="https://docs.github.com/rest"), 401

        def who() -> GitHubUser | None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            login = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
            return self.users.get(login) if login else None

        @app.get("/user")
        def user() -> Any:
            u = who()
            if u is None:
                return bad_credentials()
            return jsonify(login=u.login, id=u.id, node_id=f"U_{u.id}", type="User", name=u.name, email=None)

        @app.get("/user/emails")
        def emails() -> Any:
            u = who()
            if u is None:
                return bad_credentials()
            return jsonify(u.emails)

        return app


def _error(error: str, description: str) -> Any:
    """GitHub's token endpoint errors: HTTP 200 with an error body."""
    return jsonify(error=error, error_description=description, error_uri=DOCS)


def _pkce_ok(challenge: str | None, verifier: str | None) -> bool:
    if challenge is None:
        return True
    digest = hashlib.sha256((verifier or "").encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
