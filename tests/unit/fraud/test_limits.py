"""The submit gate of `RateLimits`: rate limits hit on every attempt, pace limits tested and hit
only when the one-time key was new; on Redis (both scripted strategies), on process memory, and
on memory when Redis is unreachable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

from app.fraud.limits import Check, Once, RateLimits, Step
from tests.integration.conftest import free_port
from tests.services import REDIS_BASE, redis_available, require

RATE = [Check("5/minute", ("score", 1))]
CAP = [Check("2/hour", ("hourly", 1, "task"))]
COUNTERS = [Check("1/minute", ("burst", 1))]


class Keys:
    """One-time keys: in Redis when the backend is Redis, else in this dict."""

    def __init__(self, client: redis_lib.Redis | None, prefix: str):
        self.client, self.prefix, self.used = client, prefix, set()  # type: ignore[var-annotated]

    def once(self, nonce: str) -> Once:
        key = f"{self.prefix}:tok:{nonce}" if self.client is not None else None
        return Once(key, 60, lambda: self._consume(nonce))

    def _consume(self, nonce: str) -> bool:
        new = nonce not in self.used
        self.used.add(nonce)
        return new


@pytest.fixture(params=["memory", "redis-moving", "redis-fixed", "redis-down"])
def gate(request: pytest.FixtureRequest) -> Iterator[tuple[RateLimits, Keys]]:
    prefix = f"g{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        yield RateLimits("memory://", prefix), Keys(None, prefix)
        return
    if request.param == "redis-down":
        url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        yield RateLimits(url, prefix), Keys(None, prefix)
        return
    require("Redis", redis_available())
    strategy = "fixed-window" if request.param == "redis-fixed" else "moving-window"
    client = redis_lib.Redis.from_url(f"{REDIS_BASE}/1")
    yield RateLimits(f"{REDIS_BASE}/1", prefix, strategy), Keys(client, prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def submit(limits: RateLimits, keys: Keys, nonce: str) -> Step | None:
    return limits.gate(RATE, CAP, keys.once(nonce), COUNTERS).stopped


def test_replays_never_count_toward_the_cap(gate: tuple[RateLimits, Keys]) -> None:
    limits, keys = gate
    assert submit(limits, keys, "a") is None
    assert submit(limits, keys, "a") is Step.USED
    assert submit(limits, keys, "a") is Step.USED
    assert submit(limits, keys, "b") is None  # the cap's second: the replays took nothing
    assert submit(limits, keys, "c") is Step.PACE
    assert submit(limits, keys, "d") is Step.RATE  # the sixth attempt in the minute
    assert limits.peek(CAP[0].limit, *CAP[0].ids) > 0


def test_a_refused_pace_burns_no_key_and_counts_no_counter(gate: tuple[RateLimits, Keys]) -> None:
    limits, keys = gate
    for nonce in ("a", "b"):
        assert submit(limits, keys, nonce) is None
    gated = limits.gate(RATE, CAP, keys.once("c"), COUNTERS)
    assert gated.stopped is Step.PACE and gated.waits[0] > 0 and gated.counted == []
    assert submit(limits, keys, "c") is Step.PACE  # "c" was not used up by its refusal


def test_the_counters_are_hit_with_an_accepted_attempt(gate: tuple[RateLimits, Keys]) -> None:
    limits, keys = gate
    assert limits.gate(RATE, [], keys.once("a"), COUNTERS).counted == [0]
    assert limits.gate(RATE, [], keys.once("b"), COUNTERS).counted[0] > 0  # burst over 1/minute
    assert limits.gate(RATE, [], keys.once("b"), COUNTERS).stopped is Step.USED


def test_without_a_key_the_gate_counts_only_the_rate_limits(gate: tuple[RateLimits, Keys]) -> None:
    limits, _ = gate
    for _ in range(5):
        assert limits.gate(RATE, CAP).stopped is None
    assert limits.gate(RATE, CAP).stopped is Step.RATE
    assert limits.peek(CAP[0].limit, *CAP[0].ids) == 0  # the cap is untouched
