"""One-time action tokens: HMAC-signed, key id inside, kept server-side until used."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from app.errors import ScoreboardError
from app.models.boards import MAIN

VERSION = "a2"  # a2.kid.user.board.action.nonce.issued_at.signature
V1 = "a1"  # a1.kid.user.action.nonce.issued_at.signature: for the main board (still accepted)


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from an application secret."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _kid(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class ActionClaims:
    user_id: int
    action_type: str
    nonce: str
    issued_at: int
    board: str = MAIN


class ActionTokenSigner:
    """Signs with the first key, verifies with any (current + previous keys for rotation)."""

    def __init__(self, keys: list[bytes], ttl: int):
        self._keys = {_kid(k): k for k in keys}
        self._current = _kid(keys[0])
        self.ttl = ttl

    def issue(
        self, user_id: int, action_type: str, now: float, board: str = MAIN
    ) -> tuple[str, ActionClaims]:
        """Return a new signed token for an action on a board, and its claims."""
        claims = ActionClaims(user_id, action_type, secrets.token_urlsafe(18), int(now), board)
        body = f"{VERSION}.{self._current}.{user_id}.{board}.{action_type}.{claims.nonce}.{claims.issued_at}"
        return f"{body}.{self._sign(self._keys[self._current], body)}", claims

    def verify(self, token: str) -> ActionClaims:
        """Check the signature and return the claims.

        :raise ScoreboardError TOKEN_INVALID: malformed, unknown key or bad signature.
        """
        parts = token.split(".")
        if not _well_formed(parts):
            raise ScoreboardError("TOKEN_INVALID", "The action token is malformed.")
        key = self._keys.get(parts[1])
        body, signature = token.rsplit(".", 1)
        if key is None or not hmac.compare_digest(signature.encode(), self._sign(key, body).encode()):
            raise ScoreboardError("TOKEN_INVALID", "The action token signature is not valid.")
        if parts[0] == V1:
            parts.insert(3, MAIN)
        _, _, uid, board, action_type, nonce, issued_at = parts[:7]
        return ActionClaims(int(uid), action_type, nonce, int(issued_at), board)

    def looks_signed(self, token: str) -> bool:
        """True when the token has our shape and a key id we know (a bad signature is tampering)."""
        parts = token.split(".")
        return _well_formed(parts) and parts[1] in self._keys

    @staticmethod
    def _sign(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:24])


def _well_formed(parts: list[str]) -> bool:
    """Whether a token's parts have one of our shapes."""
    return (parts[0], len(parts)) in ((VERSION, 8), (V1, 7))


class TokenStore(Protocol):
    """Server-side record of used tokens (the signature proves a token was issued)."""

    def consume(self, nonce: str, ttl: int) -> bool:
        """True: first use, now recorded for `ttl` seconds. False: already used."""
        ...

    def key(self, nonce: str) -> str | None:
        """The Redis key recording a token's use, or None (not kept in Redis)."""
        ...


class MemoryTokenStore:
    """The in-process twin, for the embedded mode."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def consume(self, nonce: str, ttl: int) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._used) > 10_000:
                self._used = {k: v for k, v in self._used.items() if v >= now}
            expires = self._used.get(nonce)
            if expires is not None and expires >= now:
                return False
            self._used[nonce] = now + ttl
            return True

    def key(self, nonce: str) -> None:
        return None


class RedisTokenStore:
    """Used tokens in Redis, shared by every worker and host: a SET NX per token, done by the
    submit's gate script (`key`), or by `consume` when the gate could not."""

    def __init__(self, redis, namespace: str):  # type: ignore[no-untyped-def]
        self._redis = redis
        self._prefix = f"{namespace}:tok:"

    def key(self, nonce: str) -> str:
        """The Redis key recording a token's use (a rate-limit gate sets it with its checks)."""
        return self._prefix + nonce

    def consume(self, nonce: str, ttl: int) -> bool:
        """:raise RedisError: Redis is unavailable."""
        return bool(self._redis.set(self.key(nonce), b"used", nx=True, ex=ttl))
