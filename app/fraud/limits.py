"""Rate limits on the `limits` library (flask-limiter's engine), Redis-backed with a memory fallback."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.exceptions import RedisError

from app.batch import Batcher, run_scripts

log = logging.getLogger(__name__)

STRATEGIES: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


@lru_cache(maxsize=256)
def parse_limit(text: str) -> RateLimitItem:
    """Parse a limit in flask-limiter's notation, e.g. `10/minute`."""
    return parse(text)


Hit = tuple[RateLimitItem, list[str], int]  # limit, identifiers, cost


@dataclass(frozen=True, slots=True)
class Check:
    """One hit of `limit` for these identifiers."""

    limit: str
    ids: tuple[str | int, ...]
    cost: int = 1


class RateLimits:
    """Atomic counters shared by all processes; per-process memory while Redis is down."""

    def __init__(self, storage_uri: str, prefix: str, strategy: str = "moving-window"):
        cls = STRATEGIES[strategy]
        memory = MemoryStorage()
        self._batch: Batcher[list[Hit], list[bool]] | None = None
        if storage_uri.startswith("memory"):
            self._primary = cls(memory)
        else:
            self._primary = cls(storage_from_string(storage_uri, key_prefix=prefix))
            self._batch = _redis_batch(self._primary.storage, strategy)
        self._fallback = cls(memory)

    def hit_many(self, checks: Sequence[Check]) -> list[int]:
        """`hit` for several limits at once: one Redis round trip, shared with concurrent callers."""
        if self._batch is None or not checks:
            return [self.hit(c.limit, *c.ids, cost=c.cost) for c in checks]
        items = [(parse_limit(c.limit), [str(i) for i in c.ids], c.cost) for c in checks]
        try:
            allowed = self._batch(items)
        except RedisError:
            log.warning("rate limit storage unavailable; using process memory")
            return [self.hit(c.limit, *c.ids, cost=c.cost) for c in checks]
        return [
            0 if ok else self._retry_after(self._primary, item, keys)
            for ok, (item, keys, _) in zip(allowed, items, strict=True)
        ]

    def hit(self, limit: str, *ids: str | int, cost: int = 1) -> int:
        """Count one attempt; return 0 if allowed, else the seconds until it would be."""
        item = parse_limit(limit)
        keys = [str(i) for i in ids]
        limiter = self._primary
        try:
            allowed = limiter.hit(item, *keys, cost=cost)
        except RedisError:
            log.warning("rate limit storage unavailable; using process memory")
            limiter = self._fallback
            allowed = limiter.hit(item, *keys, cost=cost)
        if allowed:
            return 0
        return self._retry_after(limiter, item, keys)

    def peek(self, limit: str, *ids: str | int) -> int:
        """Seconds until one more attempt would be allowed (0: allowed now); counts nothing."""
        item = parse_limit(limit)
        keys = [str(i) for i in ids]
        limiter = self._primary
        try:
            allowed = limiter.test(item, *keys)
        except RedisError:
            limiter = self._fallback
            allowed = limiter.test(item, *keys)
        return 0 if allowed else self._retry_after(limiter, item, keys)

    def clear(self, limit: str, *ids: str | int) -> None:
        """Forget the counter for these identifiers."""
        item, keys = parse_limit(limit), [str(i) for i in ids]
        for limiter in (self._primary, self._fallback):
            try:
                limiter.clear(item, *keys)
            except RedisError:
                log.warning("rate limit storage unavailable; could not clear %s", limit)

    @staticmethod
    def _retry_after(limiter: RateLimiter, item: RateLimitItem, keys: list[str]) -> int:
        try:
            reset = limiter.get_window_stats(item, *keys).reset_time
        except RedisError:
            return item.get_expiry()
        return max(1, math.ceil(reset - time.time()))


def _redis_batch(storage: Any, strategy: str) -> Batcher[list[Hit], list[bool]] | None:
    """Run the `limits` library's own Redis scripts for the hits of concurrent callers in one
    pipeline (a `Batcher`).

    The same scripts and keys as one `hit` each, so the counters are the same ones; only the
    round trips are shared. The sliding-window strategy keeps one round trip per hit.
    """
    if strategy == "moving-window":
        script = storage.lua_acquire_moving_window

        def args(item: RateLimitItem, cost: int) -> list[Any]:
            return [time.time(), item.amount, item.get_expiry(), cost]

        def allowed(item: RateLimitItem, result: Any) -> bool:
            return bool(result)
    elif strategy == "fixed-window":
        script = storage.lua_incr_expire

        def args(item: RateLimitItem, cost: int) -> list[Any]:
            return [item.get_expiry(), cost]

        def allowed(item: RateLimitItem, result: Any) -> bool:
            return int(result) <= item.amount
    else:
        return None

    def run(batch: list[list[Hit]]) -> list[list[bool] | BaseException]:
        hits = [hit for hits in batch for hit in hits]
        calls = [(script, [storage.prefixed_key(i.key_for(*keys))], args(i, cost)) for i, keys, cost in hits]
        results = iter(run_scripts(storage.get_connection(), calls))
        out: list[list[bool] | BaseException] = []
        for caller in batch:
            answers = [next(results) for _ in caller]
            error = next((a for a in answers if isinstance(a, Exception)), None)
            out.append(error or [allowed(item, a) for (item, _, _), a in zip(caller, answers, strict=True)])
        return out

    return Batcher(run)
