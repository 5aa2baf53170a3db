"""Rate limits on the `limits` library (flask-limiter's engine), Redis-backed with a memory fallback."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
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

from app import tracing
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

# One submit's limits as one atomic step (the `limits` library's moving-window and fixed-window
# semantics, on its own keys): every rate limit is hit; if all allowed, the pace limits are
# tested without counting; if all allow, the one-time key is set; only if it was new are the
# pace limits hit and the counters (`then`) hit. A refused attempt never counts toward pace.
GATE_LUA = """
-- KEYS: one per limit, then the one-time key
-- ARGV: now, fixed (1: fixed window, 0: moving window), key ttl, then 4 per limit:
--       kind (1 rate, 2 pace, 3 counter), amount, expiry, cost
-- returns: the step that refused (0 none, 1 rate, 2 pace, 3 key already set), 0, then per limit
--          1 if it allowed
local now, fixed, ttl = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local n = (#ARGV - 3) / 4
local function arg(i, k) return tonumber(ARGV[3 + (i - 1) * 4 + k]) end
local function allows(i)
  local limit, expiry, cost = arg(i, 2), arg(i, 3), arg(i, 4)
  if fixed then return tonumber(redis.call('GET', KEYS[i]) or '0') + cost <= limit end
  if cost > limit then return false end
  local entry = redis.call('LINDEX', KEYS[i], limit - cost)
  return not (entry and tonumber(entry) >= now - expiry)
end
local function hit(i)
  local limit, expiry, cost = arg(i, 2), arg(i, 3), arg(i, 4)
  if fixed then
    local current = redis.call('INCRBY', KEYS[i], cost)
    if current == cost then redis.call('EXPIRE', KEYS[i], expiry) end
    return current <= limit
  end
  if not allows(i) then return false end
  for _ = 1, cost do redis.call('LPUSH', KEYS[i], now) end
  redis.call('LTRIM', KEYS[i], 0, limit - 1)
  redis.call('EXPIRE', KEYS[i], expiry)
  return true
end
local out = {0, 0}
for i = 1, n do out[i + 2] = 0 end
for i = 1, n do
  if arg(i, 1) == 1 then
    out[i + 2] = hit(i) and 1 or 0
    if out[i + 2] == 0 then out[1] = 1 end
  end
end
if out[1] > 0 then return out end
for i = 1, n do
  if arg(i, 1) == 2 then
    out[i + 2] = allows(i) and 1 or 0
    if out[i + 2] == 0 then out[1] = 2 end
  end
end
if out[1] > 0 then return out end
if not redis.call('SET', KEYS[n + 1], 'used', 'NX', 'EX', ttl) then
  out[1] = 3
  return out
end
for i = 1, n do
  if arg(i, 1) >= 2 then out[i + 2] = hit(i) and 1 or 0 end
end
return out
"""


class Step(IntEnum):
    """Where a gate stopped."""

    RATE = 1  # a rate limit refused
    PACE = 2  # a cooldown or hourly cap refused
    USED = 3  # the one-time key was set before


@dataclass(frozen=True, slots=True)
class Once:
    """A one-time key the gate sets when every limit allows."""

    key: str | None  # the Redis key; None: not kept in Redis
    ttl: int
    consume: Callable[[], bool]  # sets it where the gate's script cannot; True: it was new


@dataclass(frozen=True, slots=True)
class Gated:
    """What a gate found: where it stopped, that step's waits, the counters' waits."""

    stopped: Step | None  # None: every limit allowed (and the one-time key was new)
    waits: list[int]  # the refusing step's waits (0: allowed), else empty
    counted: list[int]  # the counters' waits when they were hit, else empty


@dataclass(frozen=True, slots=True)
class Check:
    """One hit of `limit` for these identifiers."""

    limit: str
    ids: tuple[str | int, ...]
    cost: int = 1


class RateLimits:
    """Atomic counters shared by all processes; per-process memory while Redis is down."""

    def __init__(
        self,
        storage_uri: str,
        prefix: str,
        strategy: str = "moving-window",
        options: dict[str, Any] | None = None,
    ):
        cls = STRATEGIES[strategy]
        memory = MemoryStorage()
        self._batch: Batcher[list[Hit], list[bool]] | None = None
        self._gate: Batcher[tuple[list[str], list[Any]], list[int]] | None = None
        if storage_uri.startswith("memory"):
            self._primary = cls(memory)
        else:
            storage = storage_from_string(storage_uri, key_prefix=prefix, **(options or {}))
            self._primary = cls(storage)
            self._batch = _redis_batch(self._primary.storage, strategy)
            if strategy in ("moving-window", "fixed-window"):
                self._gate = _redis_gate(self._primary.storage)
        self._fixed = strategy == "fixed-window"
        self._fallback = cls(memory)
        self._lock = threading.Lock()  # makes the gate atomic where no script does it

    def gate(
        self,
        rate: Sequence[Check],
        pace: Sequence[Check] = (),
        once: Once | None = None,
        then: Sequence[Check] = (),
    ) -> Gated:
        """One submit's limits, atomically: hit every `rate` limit; if all allowed, test the
        `pace` limits without counting; if they allow, set the one-time key `once`; if it was
        new, hit the `pace` limits and the counters `then`. Without `once`, stops after `pace`.
        One script and one round trip (shared with concurrent callers) when Redis holds the
        limits and the key; otherwise the same steps under a process lock.
        """
        with tracing.span("gate"):
            if self._gate is not None and once is not None and once.key is not None:
                keys, args = [], [time.time(), int(self._fixed), once.ttl]
                storage: Any = self._primary.storage  # a Redis storage: it has prefixed_key
                steps = [(1, rate), (2, pace), (3, then)]
                for kind, c in ((kind, c) for kind, checks in steps for c in checks):
                    item = parse_limit(c.limit)
                    keys.append(storage.prefixed_key(item.key_for(*(str(i) for i in c.ids))))
                    args += [kind, item.amount, item.get_expiry(), c.cost]
                try:
                    out = self._gate(([*keys, once.key], args))
                except RedisError:
                    log.warning("rate limit storage unavailable; using process memory")
                else:
                    return self._gated(rate, pace, then, out)
            with self._lock:
                return self._gate_here(rate, pace, once, then)

    def _gate_here(
        self, rate: Sequence[Check], pace: Sequence[Check], once: Once | None, then: Sequence[Check]
    ) -> Gated:
        waits = [self.hit(c.limit, *c.ids, cost=c.cost) for c in rate]
        if any(waits):
            return Gated(Step.RATE, waits, [])
        waits = [self.peek(c.limit, *c.ids) for c in pace]
        if any(waits):
            return Gated(Step.PACE, waits, [])
        if once is None:
            return Gated(None, [], [])
        if not once.consume():
            return Gated(Step.USED, [], [])
        for c in pace:
            self.hit(c.limit, *c.ids, cost=c.cost)
        return Gated(None, [], self.hit_many(then))

    def _gated(
        self, rate: Sequence[Check], pace: Sequence[Check], then: Sequence[Check], out: list[int]
    ) -> Gated:
        stopped, allowed = int(out[0]), out[2:]
        if stopped == Step.RATE:
            return Gated(Step.RATE, self._waits(rate, allowed[: len(rate)]), [])
        if stopped == Step.PACE:
            return Gated(Step.PACE, self._waits(pace, allowed[len(rate) : len(rate) + len(pace)]), [])
        if stopped == Step.USED:
            return Gated(Step.USED, [], [])
        start = len(rate) + len(pace)
        return Gated(None, [], self._waits(then, allowed[start:]))

    def _waits(self, checks: Sequence[Check], allowed: Sequence[int]) -> list[int]:
        return [
            0 if ok else self._retry_after(self._primary, parse_limit(c.limit), [str(i) for i in c.ids])
            for c, ok in zip(checks, allowed, strict=True)
        ]

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
        return self._waits(checks, allowed)

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


def _redis_gate(storage: Any) -> Batcher[tuple[list[str], list[Any]], list[int]]:
    """The gate script for concurrent callers, one pipeline per batch."""
    script = storage.get_connection().register_script(GATE_LUA)

    def run(batch: list[tuple[list[str], list[Any]]]) -> list[Any]:
        return run_scripts(storage.get_connection(), [(script, keys, args) for keys, args in batch])

    return Batcher(run)
