"""Where the test suites find PostgreSQL and Redis, and what to do when they are missing."""

from __future__ import annotations

import os

import pytest

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"


def pg_available() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=2, autocommit=True).close()
        return True
    except psycopg.Error:
        return False


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def require(name: str, available: bool) -> None:
    """Skip without the service, or fail when REQUIRE_SERVICES=1 (as CI sets)."""
    if available:
        return
    if REQUIRED:
        pytest.fail(f"{name} is required (REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} not reachable; set REQUIRE_SERVICES=1 to make this a failure")
