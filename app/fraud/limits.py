"""Rate limits on the `limits` library (flask-limiter's engine), Redis-backed with a memory fallback."""

from __future__ import annotations

import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.exceptions import RedisError

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


class RateLimits:
    """Atomic counters shared by all processes; per-process memory while Redis is down."""

    def __init__(self, storage_uri: str, prefix: str, strategy: str = "moving-window"):
        cls = STRATEGIES[strategy]
        memory = MemoryStorage()
        if storage_uri.startswith("memory"):
            self._primary = cls(memory)
        else:
            self._primary = cls(storage_from_string(storage_uri, key_prefix=prefix))
        self._fallback = cls(memory)

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
