"""The per-IP API limit (SPEC §10): exact in one process, shared through Redis across processes."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib

from app.fraud.address import AddressLimit
from app.services import redis_client
from tests.helpers import error_code


class Clock:
    def __init__(self, now: float = 1_000_040.0):  # 20 s into a minute
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_api_refuses_an_address_over_its_limit(make_app: Any) -> None:
    app = make_app(RATELIMIT_API_PER_IP="5/minute")
    client = app.test_client()
    ok = [client.get("/api/v1/leaderboard").status_code for _ in range(5)]
    refused = client.get("/api/v1/leaderboard")
    assert ok == [200] * 5
    assert refused.status_code == 429 and error_code(refused) == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = client.get("/api/v1/leaderboard", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 200  # another address has its own budget
    assert client.get("/healthz").status_code == 200  # outside the API: not counted
    assert client.get("/api/v1/leaderboard").status_code == 429


def test_without_redis_one_process_counts_exactly_and_windows_reset() -> None:
    clock = Clock()
    limit = AddressLimit("10/minute", clock=clock)
    assert [limit.hit("a") for _ in range(10)] == [0] * 10
    assert limit.hit("a") == 40  # the rest of the minute
    clock.now += 40
    assert limit.hit("a") == 0


@pytest.fixture
def shared(redis_url: str) -> Any:
    client = redis_lib.Redis.from_url(redis_url)
    prefix = f"addr-test-{id(client)}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_processes_share_one_budget_through_redis(shared: Any) -> None:
    client, prefix = shared
    clock = Clock()
    a = AddressLimit("20/minute", client, prefix, clock=clock)
    b = AddressLimit("20/minute", client, prefix, clock=clock)
    assert [a.hit("x") for _ in range(10)] == [0] * 10
    a.flush()  # the background sync, done by hand here
    assert [b.hit("x") for _ in range(10)] == [0] * 10  # b learned a's 10 on its first hit
    assert b.hit("x") > 0  # 21st: b is close to the limit, so it asks Redis at once
    assert a.hit("x") == 0  # a's view is one sync behind: the documented overshoot
    a.flush()
    assert a.hit("x") > 0  # and from its next sync on, a refuses too
    assert int(client.get(f"{prefix}:x:{int(clock.now // 60)}")) >= 22


def test_redis_down_counts_in_the_process(shared: Any) -> None:
    dead = redis_client("redis://127.0.0.1:1/0")  # nothing listens there
    limit = AddressLimit("3/minute", dead, "x", clock=Clock())
    assert [limit.hit("y") for _ in range(3)] == [0, 0, 0]
    assert limit.hit("y") > 0


def test_past_windows_are_forgotten() -> None:
    clock = Clock()
    limit = AddressLimit("10/minute", clock=clock)
    for i in range(100):
        limit.hit(f"198.51.100.{i}")
        limit.hit(f"198.51.100.{i}")  # counted locally: starts the background sync
    clock.now += 60
    limit.hit("203.0.113.1")
    limit.flush()
    assert list(limit._windows) == ["203.0.113.1"]  # memory stays bounded by recent addresses
    limit.stop()
