"""Fixtures: the app in both run modes, a clean database and Redis for every test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import TestConfig
from tests.services import PG_ADMIN_URL, REDIS_BASE, pg_available, redis_available, require

ROOT = Path(__file__).resolve().parent.parent
TABLES = [
    "board_scores",
    "stream_state",
    "score_events",
    "audit_log",
    "fraud_flags",
    "oauth_tokens",
    "oauth_codes",
    "oauth_clients",
    "oauth_accounts",
    "signing_keys",
    "users",
    "board_state",
    "boards",
]
CATALOG = {
    "complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0},
    "slow_task": {"points": 5, "cooldown_seconds": 60, "max_per_hour": 0},
    "capped_task": {"points": 1, "cooldown_seconds": 0, "max_per_hour": 2},
}
GENEROUS = {
    "RATELIMIT_SCORE_PER_USER": "100000/minute",
    "RATELIMIT_TOKEN_PER_USER": "100000/minute",
    "RATELIMIT_SCORE_PER_SESSION": "100000/hour",
    "RATELIMIT_API_PER_IP": "100000/minute",
    "FRAUD_BURST_COUNT": 100000,
    "SUSPICIOUS_VELOCITY_THRESHOLD": 10**9,
    "FRAUD_ACCOUNTS_PER_IP": 10**6,
}


_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def run_id() -> str:
    """Unique to this pytest run and worker, so parallel runs never share a database."""
    return f"{_RUN[:8]}_{_worker()}"


def _migrate(url: str, instance: Path) -> None:
    """Run the real migrations (flask db upgrade) against a database."""
    from flask_migrate import upgrade

    app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=url, INSTANCE_PATH=str(instance)))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        app.extensions["scoreboard"].stop()
        from app.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy."""
    base = tmp_path_factory.mktemp("sqlite")
    path = base / "template.db"
    _migrate(f"sqlite:///{path}", base)
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this xdist worker."""
    require("PostgreSQL", pg_available())
    name = f"sbtest_{run_id()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://")
    _migrate(url, Path(tempfile.gettempdir()))
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", redis_available())
    return f"{REDIS_BASE}/1"


def clean_redis(url: str, namespace: str) -> None:
    """Delete this run's keys only (other runs may share the server)."""
    client = redis_lib.Redis.from_url(url)
    keys = list(client.scan_iter(f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def clean_postgres(url: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO board_state (id, seq) VALUES (1, 0)")
        conn.execute(
            "INSERT INTO boards (slug, title, periods, timezone, created_at, updated_at)"
            " VALUES ('main', 'Leaderboard', '[]', 'UTC', now(), now())"
        )


@pytest.fixture(params=["embedded", "production"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(mode: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Configuration for a fresh app in `mode` with a clean database and Redis."""
    base: dict[str, Any] = {"INSTANCE_PATH": str(tmp_path), "ACTION_CATALOG": CATALOG}
    if mode == "embedded":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "test.db")
        base.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'test.db'}", REDIS_URL="")
    else:
        pg, rurl = request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url")
        namespace = f"t{run_id()}"
        clean_postgres(pg)
        clean_redis(rurl, namespace)
        base.update(SQLALCHEMY_DATABASE_URI=pg, REDIS_URL=rurl, REDIS_NAMESPACE=namespace)
    return base


@pytest.fixture
def make_app(settings: dict[str, Any]) -> Iterator[Any]:
    """Build apps on this test's database; overrides are config settings."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = create_app(TestConfig(**{**settings, **overrides}))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["scoreboard"].stop()
        with app.app_context():
            from app.extensions import db

            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Flask:
    """The app with the SPEC's default limits, except generous ones for volume."""
    return make_app(**GENEROUS)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
