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

# Groups of limits in order, then a one-time key, then counters, as one atomic step: every
# limit of a group is hit (each counted only if it allows, as the `limits` library does); the
# first group with a refusal ends the step; the one-time key is set only when every group
# allowed; the counters (`then`) are hit only when the key was new.
GATE_LUA = """
-- KEYS: one per limit, then the one-time key (when ARGV[3] > 0)
-- ARGV: now, fixed (1: fixed window, 0: moving window), once ttl, number of groups
--       (later limits are the counters), then 4 per limit: group, amount, expiry, cost
local now, fixed, ttl, groups = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4])
local function hit(i)
  local b = 4 + (i - 1) * 4
  local limit, expiry, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if fixed then
    local current = redis.call('INCRBY', KEYS[i], cost)
    if current == cost then redis.call('EXPIRE', KEYS[i], expiry) end
    return current <= limit
  end
  if cost > limit then return false end
  local entry = redis.call('LINDEX', KEYS[i], limit - cost)
  if entry and tonumber(entry) >= now - expiry then return false end
  for _ = 1, cost do redis.call('LPUSH', KEYS[i], now) end
  redis.call('LTRIM', KEYS[i], 0, limit - 1)
  redis.call('EXPIRE', KEYS[i], expiry)
  return true
end
local out, refused, i, n = {0, -1}, 0, 1, (#ARGV - 4) / 4
while i <= n do
  local g = tonumber(ARGV[4 + (i - 1) * 4 + 1])
  if g > groups or (refused > 0 and g ~= refused) then break end
  out[i + 2] = hit(i) and 1 or 0
  if out[i + 2] == 0 then refused = g end
  i = i + 1
end
out[1] = refused
if refused > 0 then return out end
if ttl > 0 then
  out[2] = redis.call('SET', KEYS[#KEYS], 'used', 'NX', 'EX', ttl) and 1 or 0
  if out[2] == 0 then return out end
end
while i <= n do
  out[i + 2] = hit(i) and 1 or 0
  i = i + 1
end
return out
"""


@dataclass(frozen=True, slots=True)
class Gated:
    """What a gate found: the first group that refused, the one-time key, the counters."""

    refused: int | None  # index of the first group with a refusal; None: all allowed
    waits: list[int]  # that group's waits (0: allowed), else empty
    first_use: bool | None  # the one-time key was new; None: not tried (or Redis unavailable)
    then: list[int] | None = None  # the counters' waits; None: not hit (the caller hits them)


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
        self._gate: Batcher[tuple[list[str], list[Any]], list[int]] | None = None
        if storage_uri.startswith("memory"):
            self._primary = cls(memory)
        else:
            self._primary = cls(storage_from_string(storage_uri, key_prefix=prefix))
            self._batch = _redis_batch(self._primary.storage, strategy)
            if strategy in ("moving-window", "fixed-window"):
                self._gate = _redis_gate(self._primary.storage)
        self._fixed = strategy == "fixed-window"
        self._fallback = cls(memory)

    def gate(
        self,
        groups: Sequence[Sequence[Check]],
        once: tuple[str, int] | None = None,
        then: Sequence[Check] = (),
    ) -> Gated:
        """Hit the groups of limits in order, stopping after the first group with a refusal;
        if all allowed, set the one-time Redis key `once` (key, ttl); if it was new, hit the
        counters `then`. One atomic step and one round trip (shared with concurrent callers)
        when Redis holds the limits; otherwise the groups only (`first_use`, `then`: None).
        """
        if self._gate is not None and once is not None:
            keys, args = [], [time.time(), int(self._fixed), once[1], len(groups)]
            storage = self._primary.storage
            numbered = [(g, c) for g, checks in enumerate(groups, 1) for c in checks]
            for g, c in [*numbered, *((len(groups) + 1, c) for c in then)]:
                item = parse_limit(c.limit)
                keys.append(storage.prefixed_key(item.key_for(*(str(i) for i in c.ids))))
                args += [g, item.amount, item.get_expiry(), c.cost]
            try:
                out = self._gate(([*keys, once[0]], args))
            except RedisError:
                log.warning("rate limit storage unavailable; using process memory")
            else:
                return self._gated(groups, then, out)
        for g, checks in enumerate(groups):
            waits = [self.hit(c.limit, *c.ids, cost=c.cost) for c in checks]
            if any(waits):
                return Gated(g, waits, None)
        return Gated(None, [], None)

    def _gated(self, groups: Sequence[Sequence[Check]], then: Sequence[Check], out: list[int]) -> Gated:
        refused, first_use, allowed = int(out[0]), int(out[1]), out[2:]
        if refused:
            start = sum(len(c) for c in groups[: refused - 1])
            checks = groups[refused - 1]
            return Gated(refused - 1, self._waits(checks, allowed[start : start + len(checks)]), None)
        if not first_use:
            return Gated(None, [], False)
        start = sum(len(c) for c in groups)
        return Gated(None, [], True, self._waits(then, allowed[start:]))

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
