"""Unit fixtures: the domain services wired on a fresh database (both run modes), with a clock
the test moves. No HTTP: tests call the services as the API, pages and CLI do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert

from app.auth.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_SCORE, Principal
from app.config import TestConfig
from app.extensions import db
from app.models import User
from app.services import Services, build_services
from tests.conftest import GENEROUS

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class FakeClock:
    """Seconds since the epoch, moved only by the test."""

    def __init__(self, start: float = START):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Domain:
    services: Services
    clock: FakeClock

    def player(self, username: str, **columns: Any) -> Principal:
        """A player row (a factory: no sign-up flow), as the principal that acts for it."""
        with self.services.engine.begin() as conn:
            values = {"username": username, "display_name": username.title(), "email": None, **columns}
            uid = conn.execute(insert(User).values(values).returning(User.id)).scalar_one()
        return Principal(uid, username, frozenset({SCOPE_READ, SCOPE_SCORE, SCOPE_ADMIN}), f"s-{uid}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def domain(make_app: Any, settings: dict[str, Any], clock: FakeClock) -> Iterator[Domain]:
    """The services of a fresh app in this test's run mode, every rule reading `clock`."""
    overrides = {
        **GENEROUS,
        "FRAUD_BURST_COUNT": 3,
        "MANUAL_REVIEW_THRESHOLD": 50,
        "FRAUD_ACCOUNTS_PER_IP": 2,
    }
    app = make_app(**overrides)
    with app.app_context():
        services = build_services(TestConfig(**{**settings, **overrides}), db.engine, clock)
        services.start()
        yield Domain(services, clock)
        services.stop()
