"""The OAuth 2.0 authorization server for API clients (Authlib): refresh rotation, revocation,
authorization code + PKCE, JWT access tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, cast

import orjson
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Response, has_request_context, request
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.keys import AccessTokens
from app.auth.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_SCORE
from app.errors import OAUTH_CHALLENGE
from app.extensions import db
from app.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthToken
from app.models.users import User

WEB_CLIENT_ID = "scoreboard-web"
SCOPES = [SCOPE_READ, SCOPE_SCORE, SCOPE_ADMIN]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_issuer() -> str:
    """The issuer when JWT_ISSUER is unset: this server's root URL, as the metadata names it."""
    return request.url_root.rstrip("/") if has_request_context() else ""


def player_scope(user: User) -> str:
    """The scope register/login tokens carry."""
    return " ".join([SCOPE_READ, SCOPE_SCORE] + ([SCOPE_ADMIN] if user.is_admin else []))


def web_client() -> OAuthClient:
    """The built-in public first-party client, created on first use."""
    client = db.session.execute(select(OAuthClient).filter_by(client_id=WEB_CLIENT_ID)).scalar_one_or_none()
    if client is not None:
        return client
    client = OAuthClient(client_id=WEB_CLIENT_ID, client_secret="", client_id_issued_at=int(time.time()))
    client.set_client_metadata(
        {
            "client_name": "Live Scoreboard web",
            "grant_types": ["refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": " ".join(SCOPES),
            "response_types": [],
        }
    )
    try:
        with db.session.begin_nested():
            db.session.add(client)
    except IntegrityError:
        return web_client()
    return client


class TokenIssuer:
    """Token responses for any grant; each refresh token belongs to a family that rotates."""

    def __init__(self, access: AccessTokens, refresh_ttl: int):
        self.access = access
        self.refresh_ttl = refresh_ttl

    def __call__(
        self,
        grant_type: str,
        client: OAuthClient,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
        family: str | None = None,
    ) -> dict[str, Any]:
        assert user is not None
        scope = scope or player_scope(user)
        family = family or secrets.token_urlsafe(16)
        token, jti = self.access.issue(
            user.id, user.username, scope, client.get_client_id(), family, issuer=request_issuer()
        )
        out: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access.ttl,
            "scope": scope,
            "_jti": jti,
            "_family": family,
        }
        if include_refresh_token:
            out["refresh_token"] = secrets.token_urlsafe(32)
        return out

    def save(self, token: dict[str, Any], user_id: int, client_id: str) -> None:
        """Store the pair (refresh hashed); strips the private fields from the response."""
        now = int(time.time())
        refresh = token.get("refresh_token")
        db.session.add(
            OAuthToken(
                user_id=user_id,
                client_id=client_id,
                family_id=token.pop("_family"),
                access_jti=token.pop("_jti"),
                refresh_token_hash=_hash(refresh) if refresh else None,
                scope=token["scope"],
                issued_at=now,
                expires_in=token["expires_in"],
                refresh_expires_at=now + self.refresh_ttl if refresh else 0,
            )
        )
        db.session.commit()

    def issue_for(self, user: User, client: OAuthClient | None = None) -> dict[str, Any]:
        """A fresh token response (new family) for a user who just signed in."""
        client = client or _WEB
        token = self(grant_type="password", client=client, user=user)
        self.save(token, user.id, client.get_client_id())
        return token


class _WebClientId:
    """Stands for `scoreboard-web` where only its id is needed (no query mid-request)."""

    @staticmethod
    def get_client_id() -> str:
        return WEB_CLIENT_ID


_WEB: Any = _WebClientId()


def revoke_family(family_id: str) -> None:
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at == 0)
        .values(revoked_at=int(time.time()))
    )
    db.session.commit()


class RotatingRefreshGrant(grants.RefreshTokenGrant):
    """Each use returns a new refresh token; presenting a used one revokes the whole family."""

    INCLUDE_NEW_REFRESH_TOKEN = True
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        row = db.session.execute(
            select(OAuthToken).filter_by(refresh_token_hash=_hash(refresh_token))
        ).scalar_one_or_none()
        if row is None or row.revoked_at or row.refresh_expires_at < time.time():
            return None
        if row.rotated_at:
            revoke_family(row.family_id)
            return None
        return row

    def authenticate_user(self, refresh_token: OAuthToken) -> User | None:
        user = db.session.get(User, refresh_token.user_id)
        return user if user is not None and not user.is_deleted else None

    def issue_token(self, user: User, refresh_token: OAuthToken) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.server.token_issuer(
            grant_type=self.GRANT_TYPE,
            client=self.request.client,
            user=user,
            scope=scope,
            family=refresh_token.family_id,
        )

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        """Mark the presented token used, atomically: of two concurrent uses only one wins, and
        the loser revokes the family (the winner's new pair included), as any reuse does."""
        stmt = (
            update(OAuthToken)
            .where(OAuthToken.id == refresh_token.id, OAuthToken.rotated_at == 0, OAuthToken.revoked_at == 0)
            .values(rotated_at=int(time.time()))
        )
        used = cast(CursorResult[Any], db.session.execute(stmt)).rowcount  # an UPDATE's result
        db.session.commit()
        if not used:
            revoke_family(refresh_token.family_id)
            raise InvalidGrantError("This refresh token has already been used.")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        db.session.add(
            OAuthAuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.payload.scope,
                user_id=request.user.id,
                code_challenge=request.payload.data.get("code_challenge"),
                code_challenge_method=request.payload.data.get("code_challenge_method"),
            )
        )
        db.session.commit()

    def query_authorization_code(self, code: str, client: OAuthClient) -> Any:
        item = db.session.execute(
            select(OAuthAuthorizationCode).filter_by(code=code, client_id=client.client_id)
        ).scalar_one_or_none()
        return item if item is not None and not item.is_expired() else None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        db.session.delete(authorization_code)
        db.session.commit()

    def authenticate_user(self, authorization_code: Any) -> User | None:
        return db.session.get(User, authorization_code.user_id)


class S256Challenge(CodeChallenge):
    """PKCE required on every authorization request, with S256 only (no `plain`)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("This client must use PKCE: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking either token of a pair revokes its whole family."""

    CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]

    def check_params(self, request: Any, client: OAuthClient) -> None:
        """`token` is required; an unknown `token_type_hint` is ignored (RFC 7009 §2.1)."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' parameter.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        row = db.session.execute(
            select(OAuthToken).filter_by(refresh_token_hash=_hash(token_string))
        ).scalar_one_or_none()
        if row is None and token_type_hint != "refresh_token":  # noqa: S105 (a hint name, not a secret)
            try:
                jti = self.server.token_issuer.access.verify(token_string)["jti"]
            except Exception:
                return None
            row = db.session.execute(select(OAuthToken).filter_by(access_jti=jti)).scalar_one_or_none()
        return row

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        revoke_family(token.family_id)


class ScoreboardAuthServer(AuthorizationServer):
    """Authlib's server; its errors keep the RFC 6749 §5.2 shape that OAuth clients parse."""

    token_issuer: TokenIssuer

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        headers = list(headers or [])
        if isinstance(payload, dict) and payload.get("error") == "invalid_client":
            status_code = 401  # SPEC §6: 401 with a challenge, whichever way the client authenticated
            if not any(name.lower() == "www-authenticate" for name, _ in headers):
                headers.append(("WWW-Authenticate", OAUTH_CHALLENGE))
        if isinstance(payload, dict):
            payload = orjson.dumps(payload)
        return Response(payload, status=status_code, headers=headers)


def create_server(app: Any, issuer: TokenIssuer) -> ScoreboardAuthServer:
    """Bind the authorization server to the app with our grants and endpoints."""

    def query_client(client_id: str) -> OAuthClient | None:
        if client_id == WEB_CLIENT_ID:
            return web_client()
        return db.session.execute(select(OAuthClient).filter_by(client_id=client_id)).scalar_one_or_none()

    def save_token(token: dict[str, Any], request: Any) -> None:
        issuer.save(token, request.user.id, request.client.get_client_id())

    server = ScoreboardAuthServer()
    server.token_issuer = issuer
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.scopes_supported = SCOPES  # an unknown scope is invalid_scope, not silently dropped
    server.register_token_generator("default", issuer)
    server.register_grant(RotatingRefreshGrant)
    server.register_grant(CodeGrant, [S256Challenge(required=True)])
    server.register_endpoint(Revocation)
    return server
