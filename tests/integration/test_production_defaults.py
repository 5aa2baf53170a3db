"""What a production deploy sends without extra settings (SPEC §11), as gunicorn serves it:
HSTS on every response, Secure session cookies, and on Heroku the router's hop trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import clean_postgres, clean_redis, run_id
from tests.integration.conftest import Gunicorn, embedded_env, production_env

PAGES = ["/", "/login", "/api/v1/leaderboard", "/api/v1/leaderboard?limit=5", "/healthz", "/no-such-page"]


@pytest.fixture(scope="module")
def production(pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Production mode with the defaults: SESSION_COOKIE_SECURE and TRUSTED_PROXY_COUNT unset."""
    namespace = f"p{run_id()}"
    clean_postgres(pg_url)
    clean_redis(redis_url, namespace)
    env = production_env(pg_url, redis_url, namespace)
    del env["SESSION_COOKIE_SECURE"]
    server = Gunicorn(env, tmp_path_factory.mktemp("prod") / "gunicorn.log", workers=1)
    server.env.pop("SESSION_COOKIE_SECURE", None)
    server.env.pop("TRUSTED_PROXY_COUNT", None)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", PAGES)
def test_every_production_response_carries_hsts(production: Gunicorn, path: str) -> None:
    r = requests.get(production.url + path, timeout=10)
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", r.status_code


def test_the_production_session_cookie_is_secure_by_default(production: Gunicorn) -> None:
    r = requests.get(production.url + "/login", timeout=10)
    cookie = r.headers["Set-Cookie"]
    assert "session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def _embedded(sqlite_template: Path, tmp: Path, **extra: str) -> Gunicorn:
    env = embedded_env(tmp / "instance", sqlite_template, **extra)
    server = Gunicorn(env, tmp / "gunicorn.log", workers=1)
    for name in ("DYNO", "TRUSTED_PROXY_COUNT", "SESSION_COOKIE_SECURE", "DATABASE_URL"):
        if name not in extra:
            server.env.pop(name, None)
    return server


def test_the_embedded_mode_works_over_plain_http(sqlite_template: Path, tmp_path: Path) -> None:
    server = _embedded(sqlite_template, tmp_path)
    server.start()
    try:
        r = requests.get(server.url + "/login", timeout=10)
        assert r.status_code == 200 and "Strict-Transport-Security" not in r.headers
        assert "Secure" not in r.headers["Set-Cookie"]
    finally:
        server.stop()


def test_on_heroku_the_router_is_trusted_for_the_client_address(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """With DYNO set, the address the router names is the one the per-IP limit counts."""
    server = _embedded(sqlite_template, tmp_path, DYNO="web.1", RATELIMIT_API_PER_IP="2/minute")
    server.start()
    try:
        for client in ("203.0.113.7", "203.0.113.7", "198.51.100.9"):
            r = requests.get(
                server.url + "/api/v1/leaderboard?limit=3", headers={"X-Forwarded-For": client}, timeout=10
            )
            assert r.status_code == 200, (client, r.text)
        third = requests.get(
            server.url + "/api/v1/leaderboard?limit=3", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10
        )
        assert third.status_code == 429 and third.json()["error"]["code"] == "RATE_LIMITED"
    finally:
        server.stop()
