"""Production defaults read from the environment (SPEC §11): Secure cookies, proxy hops."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config

PG = "postgres://scoreboard@db.example/scoreboard"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: none of the settings these tests are about."""
    for name in ("DATABASE_URL", "SECRET_KEY", "SESSION_COOKIE_SECURE", "DYNO", "TRUSTED_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    return monkeypatch


def production(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", PG)
    env.setenv("SECRET_KEY", "s" * 48)


def test_the_embedded_default_keeps_cookies_usable_over_plain_http(env: pytest.MonkeyPatch) -> None:
    config = Config()
    assert not config.production
    assert config.SESSION_COOKIE_SECURE is False and config.REMEMBER_COOKIE_SECURE is False
    assert config.SESSION_COOKIE_HTTPONLY and config.SESSION_COOKIE_SAMESITE == "Lax"
    assert config.TRUSTED_PROXY_COUNT == 0


def test_production_cookies_are_secure_by_default(env: pytest.MonkeyPatch) -> None:
    production(env)
    config = Config()
    assert config.production
    assert config.SESSION_COOKIE_SECURE is True and config.REMEMBER_COOKIE_SECURE is True


def test_session_cookie_secure_0_opts_out_in_production(env: pytest.MonkeyPatch) -> None:
    production(env)
    env.setenv("SESSION_COOKIE_SECURE", "0")
    assert Config().SESSION_COOKIE_SECURE is False


def test_session_cookie_secure_1_forces_it_in_the_embedded_mode(env: pytest.MonkeyPatch) -> None:
    env.setenv("SESSION_COOKIE_SECURE", "1")
    assert Config().SESSION_COOKIE_SECURE is True


@pytest.mark.parametrize(
    "dyno, count, expected",
    [(None, None, 0), ("web.1", None, 1), ("web.1", "0", 0), ("web.1", "2", 2), (None, "3", 3)],
)
def test_on_heroku_the_router_is_one_trusted_hop_unless_said_otherwise(
    env: pytest.MonkeyPatch, dyno: str | None, count: str | None, expected: int
) -> None:
    if dyno:
        env.setenv("DYNO", dyno)
    if count is not None:
        env.setenv("TRUSTED_PROXY_COUNT", count)
    assert Config().TRUSTED_PROXY_COUNT == expected
