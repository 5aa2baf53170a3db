"""Signing keys for access tokens (RS256, `kid` in the header), kept encrypted in the database."""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.errors import ScoreboardError
from app.models.oauth import SigningKey
from app.models.types import utcnow
from app.scoring.tokens import derive_key

log = logging.getLogger(__name__)
ALG = "RS256"


def _fernet(secrets_: list[str]) -> MultiFernet:
    keys = [Fernet(base64.urlsafe_b64encode(derive_key(s, "signing-keys"))) for s in secrets_]
    return MultiFernet(keys)


class AccessTokens:
    """Issues and verifies JWT access tokens; every host reads the same keys from the database."""

    def __init__(self, engine: Engine, secret_keys: list[str], issuer: str, audience: str, ttl: int):
        self.engine = engine
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._fernet = _fernet(secret_keys)
        self._keys: dict[str, RSAKey] = {}
        self._current: str | None = None
        self._forced_at = 0.0  # the last reload for an unknown key id (not the first load)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- keys --------------------------------------------------------------------------

    def load(self, force: bool = False) -> None:
        """Read the active keys; create the first one if there is none."""
        with self._lock:
            if self._keys and not force:
                return
            if force and time.monotonic() - self._forced_at < 1.0:
                return  # unknown key ids cost one database read a second at most
            if force:
                self._forced_at = time.monotonic()
            rows = self._rows()
            if not rows:
                self.rotate()
                rows = self._rows()
            keys = {}
            for row in rows:
                try:
                    pem = self._fernet.decrypt(row.private_key.encode())
                except InvalidToken:
                    log.error("signing key %s cannot be decrypted with SECRET_KEY", row.kid)
                    continue
                keys[row.kid] = RSAKey.import_key(pem, {"kid": row.kid, "use": "sig", "alg": ALG})
            self._keys = keys
            self._current = rows[-1].kid

    def rotate(self) -> str:
        """Add a new signing key; older ones stay for verification until retired."""
        key = RSAKey.generate_key(2048, private=True)
        kid = key.thumbprint()[:16]
        pem = key.as_pem(private=True)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    SigningKey.__table__.insert(),
                    {"kid": kid, "private_key": self._fernet.encrypt(pem).decode(), "created_at": utcnow()},
                )
        except IntegrityError:  # another worker created one at the same moment
            pass
        self._keys = {}
        return kid

    def retire_all_but_newest(self, keep: int = 2) -> None:
        """Retire all but the `keep` newest keys (tokens signed by them stop verifying)."""
        rows = self._rows()
        with self.engine.begin() as conn:
            for row in rows[:-keep]:
                conn.execute(update(SigningKey).where(SigningKey.id == row.id).values(retired_at=utcnow()))
        self._keys = {}

    def jwks(self) -> dict[str, Any]:
        """The public keys, current and previous."""
        self.load()
        return {"keys": [k.as_dict(private=False) for k in self._keys.values()]}

    def _rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id)
            return list(conn.execute(stmt))

    # -- tokens ------------------------------------------------------------------------

    def issue(
        self, user_id: int, username: str, scope: str, client_id: str, family: str, issuer: str | None = None
    ) -> tuple[str, str]:
        """A signed access token and its jti."""
        self.load()
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        claims = {
            "sub": str(user_id),
            "username": username,
            "scope": scope,
            "jti": jti,
            "iss": self.issuer or issuer or "",
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
            "client_id": client_id,
            "sid": family,
        }
        header = {"alg": ALG, "kid": self._current, "typ": "at+jwt"}
        return jwt.encode(header, claims, self._keys[self._current]), jti  # type: ignore[index]

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired access token.

        :raise ScoreboardError UNAUTHORIZED: anything else.
        """
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            self._cache[token] = claims
            if len(self._cache) > 20_000:
                self._cache.popitem(last=False)
        if claims["exp"] < time.time():
            raise ScoreboardError("UNAUTHORIZED", "The access token has expired.")
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        self.load()
        try:
            header = _header(token)
            kid = header.get("kid")
            if kid not in self._keys:
                self.load(force=True)
            if header.get("alg") != ALG or kid not in self._keys:
                raise ScoreboardError("UNAUTHORIZED", "The access token is not signed by a known key.")
            claims = jwt.decode(token, KeySet([self._keys[kid]]), algorithms=[ALG]).claims
        except (JoseError, ValueError) as exc:
            raise ScoreboardError("UNAUTHORIZED", "The access token is not valid.") from exc
        if claims.get("aud") != self.audience or (self.issuer and claims.get("iss") != self.issuer):
            raise ScoreboardError("UNAUTHORIZED", "The access token is not meant for this service.")
        if not isinstance(claims.get("exp"), int) or not str(claims.get("sub", "")).isdigit():
            raise ScoreboardError("UNAUTHORIZED", "The access token is missing claims.")
        return claims


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS.

    :raise ValueError: not base64url JSON describing an object with a string `kid`.
    """
    head = token.split(".", 1)[0]
    header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
        raise ValueError("the token header is not an object with a key id")
    return header
