"""Configuration read from the environment; TestConfig beside it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

DEFAULT_CATALOG = {"complete_task": {"points": 10, "cooldown_seconds": 1, "max_per_hour": 600}}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def is_production(database_uri: str) -> bool:
    """Production mode: the deployment runs on a server database (DATABASE_URL), not SQLite."""
    return not database_uri.startswith("sqlite")


def _database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return f"sqlite:///{instance / 'scoreboard.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secret_key(instance: Path) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if os.environ.get("DATABASE_URL"):
        raise ConfigError("SECRET_KEY must be set when DATABASE_URL is set (production mode).")
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    """Settings for a deployment, every one overridable by an environment variable."""

    def __init__(self, instance_path: str | os.PathLike[str] | None = None, **overrides: Any):
        instance = Path(instance_path or os.environ.get("INSTANCE_PATH", "instance")).resolve()
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = overrides.pop("SECRET_KEY", None) or _secret_key(instance)
        fallbacks = _env("SECRET_KEY_FALLBACKS", "")
        self.SECRET_KEY_FALLBACKS = [k for k in fallbacks.split(",") if k]
        self.SQLALCHEMY_DATABASE_URI = _database_url(instance)
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            # A ping per checkout costs a round trip on every request; opt in where needed.
            "pool_pre_ping": _env("DB_PRE_PING", "0") == "1",
            "pool_recycle": _int("DB_POOL_RECYCLE", 1800),
            "pool_size": _int("DB_POOL_SIZE", 20),  # gevent: many greenlets per worker
            "max_overflow": _int("DB_MAX_OVERFLOW", 10),
            "pool_timeout": _int("DB_POOL_TIMEOUT", 10),
        }
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        self.REDIS_URL = _env("REDIS_URL", "")
        self.REDIS_NAMESPACE = _env("REDIS_NAMESPACE", "sb")
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
        production = bool(os.environ.get("DATABASE_URL"))
        # Heroku (which sets DYNO) puts one router in front of every dyno.
        self.TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 1 if os.environ.get("DYNO") else 0)
        self.PASSWORD_HASH_METHOD = _env("PASSWORD_HASH_METHOD", "scrypt")
        self.ACTION_CATALOG = json.loads(_env("ACTION_CATALOG", json.dumps(DEFAULT_CATALOG)))
        self.ACTION_TOKEN_TTL = _int("ACTION_TOKEN_TTL", 60)
        self.ACCESS_TOKEN_TTL = _int("ACCESS_TOKEN_TTL", 900)
        self.REFRESH_TOKEN_TTL = _int("REFRESH_TOKEN_TTL", 30 * 24 * 3600)
        self.JWT_ISSUER = _env("JWT_ISSUER", "")
        self.JWT_AUDIENCE = _env("JWT_AUDIENCE", "scoreboard-api")
        self.LIVE_MIN_INTERVAL_MS = _int("LIVE_MIN_INTERVAL_MS", 100)
        # seconds added to the clock scoring and periods read: rehearse a rollover; 0 in production
        self.CLOCK_OFFSET_SECONDS = _int("CLOCK_OFFSET_SECONDS", 0)
        self.WS_CONNECTION_LIMIT = _int("WS_CONNECTION_LIMIT", 10000)
        self.WS_HEARTBEAT_INTERVAL = _int("WS_HEARTBEAT_INTERVAL", 25)
        self.SSE_HEARTBEAT_INTERVAL = _int("SSE_HEARTBEAT_INTERVAL", 15)
        self.POLL_INTERVAL_SECONDS = _int("POLL_INTERVAL_SECONDS", 5)
        self.WIDGET_FRAME_ANCESTORS = _env("WIDGET_FRAME_ANCESTORS", "*")
        self.RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "1") == "1"
        self.RATELIMIT_SCORE_PER_USER = _env("RATELIMIT_SCORE_PER_USER", "10/minute")
        self.RATELIMIT_TOKEN_PER_USER = _env("RATELIMIT_TOKEN_PER_USER", "10/minute")
        self.RATELIMIT_API_PER_IP = _env("RATELIMIT_API_PER_IP", "100/minute")
        self.RATELIMIT_SCORE_PER_SESSION = _env("RATELIMIT_SCORE_PER_SESSION", "50/hour")
        self.RATELIMIT_SCORE_GLOBAL = _env("RATELIMIT_SCORE_GLOBAL", "")
        self.RATELIMIT_FLAGGED_SCORE = _env("RATELIMIT_FLAGGED_SCORE", "1/minute")
        self.RATELIMIT_LOGIN_FAILURES = _env("RATELIMIT_LOGIN_FAILURES", "5/15 minutes")
        self.RATELIMIT_STRATEGY = _env("RATELIMIT_STRATEGY", "moving-window")
        self.PENALTY_VIOLATIONS = _int("PENALTY_VIOLATIONS", 3)
        self.PENALTY_WINDOW_SECONDS = _int("PENALTY_WINDOW_SECONDS", 600)
        self.PENALTY_STEPS = [int(s) for s in _env("PENALTY_STEPS", "60,300,3600").split(",")]
        self.FRAUD_BURST_COUNT = _int("FRAUD_BURST_COUNT", 8)
        self.FRAUD_BURST_WINDOW = _int("FRAUD_BURST_WINDOW", 10)
        self.SUSPICIOUS_VELOCITY_THRESHOLD = _int("SUSPICIOUS_VELOCITY_THRESHOLD", 500)
        self.MANUAL_REVIEW_THRESHOLD = _int("MANUAL_REVIEW_THRESHOLD", 10000)
        self.FRAUD_ACCOUNTS_PER_IP = _int("FRAUD_ACCOUNTS_PER_IP", 5)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure by default in production; SESSION_COOKIE_SECURE=0 opts out for a plain-HTTP trial.
        self.SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1" if production else "0") == "1"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        # Login providers (SPEC §9); a provider's button shows when its client id is set.
        self.GITHUB_CLIENT_ID = _env("GITHUB_CLIENT_ID", "")
        self.GITHUB_CLIENT_SECRET = _env("GITHUB_CLIENT_SECRET", "")
        # GitHub's endpoints, overridable for GitHub Enterprise Server or a local stand-in in tests.
        self.GITHUB_AUTHORIZE_URL = _env("GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize")
        self.GITHUB_TOKEN_URL = _env("GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token")
        self.GITHUB_API_BASE = _env("GITHUB_API_BASE", "https://api.github.com")
        self.GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID", "")
        self.GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET", "")
        self.GOOGLE_DISCOVERY_URL = _env(
            "GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration"
        )
        self.OIDC_NAME = _env("OIDC_NAME", "")
        self.OIDC_DISCOVERY_URL = _env("OIDC_DISCOVERY_URL", "")
        self.OIDC_CLIENT_ID = _env("OIDC_CLIENT_ID", "")
        self.OIDC_CLIENT_SECRET = _env("OIDC_CLIENT_SECRET", "")
        self.OAUTH_PROVIDER_TIMEOUT = float(_env("OAUTH_PROVIDER_TIMEOUT", "10"))
        self.OAUTH_CLOCK_LEEWAY = _int("OAUTH_CLOCK_LEEWAY", 60)
        self.LOG_JSON = _env("LOG_JSON", "1") == "1"
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)

    @property
    def production(self) -> bool:
        """True when the deployment runs on PostgreSQL."""
        return is_production(self.SQLALCHEMY_DATABASE_URI)


class TestConfig(Config):
    """Fast hashing, quiet logs, limits on; the database and Redis come from the caller."""

    def __init__(self, **overrides: Any):
        overrides.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 32)
        overrides.setdefault("PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")
        overrides.setdefault("LOG_JSON", False)
        overrides.setdefault("TESTING", True)
        super().__init__(**overrides)
