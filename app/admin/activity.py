"""Accepted and rejected score submissions per UTC minute, over every process of the deployment.

Each process counts its own submits in memory (`Activity.count`: a dict under a lock, no I/O on
the request path). With Redis, a background thread adds what was counted since its last flush to
one hash per minute, once a second, in one pipeline: `{namespace}:activity:{minute}` (the
minute's start in Unix seconds), fields `accepted` and `rejected`, kept 2 hours. A read sums
those hashes and what this process has not flushed yet; without Redis (the embedded mode, one
process) it reads this process's counts, and with Redis down it falls back to them.

A worker that stops flushes once more on its way out (gunicorn's `worker_exit`); one killed
outright loses what it had not flushed (at most the last second's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from app.scoring.board import iso
from app.shapes import Time, TypedDict, closed

log = logging.getLogger(__name__)

KEEP_MINUTES = 120  # in memory and in Redis (the hashes' EXPIRE): 2 hours
FLUSH_EVERY = 1.0  # seconds


class Minute(NamedTuple):
    at: datetime  # the minute's start, UTC
    accepted: int
    rejected: int


@closed
class MinuteBody(TypedDict):
    at: Time
    accepted: int
    rejected: int


@closed
class ActivityBody(TypedDict):
    """GET /admin/activity: the last minutes, oldest first."""

    minutes: list[MinuteBody]


class Activity:
    """This process's submits per minute, and every process's through Redis (`redis` None: one
    process, memory only). `clock`: Unix seconds, the time the domain reads."""

    def __init__(
        self,
        redis: Any,
        namespace: str,
        clock: Callable[[], float] = time.time,
        every: float = FLUSH_EVERY,
    ):
        self.redis = redis
        self.prefix = f"{namespace}:activity:"
        self.clock = clock
        self.every = every
        self._lock = threading.Lock()  # the counts: the only lock a submit takes
        # A flush and a read of Redis never overlap, so a read sees each count exactly once:
        # either in Redis or still unflushed here.
        self._flushing = threading.Lock()
        self._own: dict[int, list[int]] = {}  # minute -> [accepted, rejected], this process's
        self._unflushed: dict[int, list[int]] = {}  # the part of those not in Redis yet

    def count(self, accepted: bool) -> None:
        """Count one submit in the running minute (the request path: memory only)."""
        minute = int(self.clock() // 60)
        field = 0 if accepted else 1
        with self._lock:
            own = self._own.get(minute)
            if own is None:
                own = self._own[minute] = [0, 0]
                self._forget(minute - KEEP_MINUTES)
            own[field] += 1
            if self.redis is not None:
                pending = self._unflushed.get(minute)
                if pending is None:
                    pending = self._unflushed[minute] = [0, 0]
                pending[field] += 1

    def _forget(self, before: int) -> None:
        """Drop minute `before` and older ones (under the lock, once a minute)."""
        for counts in (self._own, self._unflushed):
            for old in [m for m in counts if m <= before]:
                del counts[old]

    def _key(self, minute: int) -> str:
        return f"{self.prefix}{minute * 60}"

    def flush(self) -> bool:
        """Add what this process counted since the last flush to Redis, in one transaction;
        kept for the next flush when Redis fails. False when it failed."""
        if self.redis is None:
            return True
        with self._flushing:
            with self._lock:
                batch, self._unflushed = self._unflushed, {}
            if not batch:
                return True
            pipe = self.redis.pipeline(transaction=True)  # all or nothing: nothing counted twice
            for minute, (accepted, rejected) in batch.items():
                key = self._key(minute)
                if accepted:
                    pipe.hincrby(key, "accepted", accepted)
                if rejected:
                    pipe.hincrby(key, "rejected", rejected)
                pipe.expire(key, KEEP_MINUTES * 60)
            try:
                pipe.execute()
            except RedisError as exc:
                log.debug("activity not flushed: %s", exc)
                with self._lock:
                    self._keep(batch)
                return False
            return True

    def _keep(self, batch: dict[int, list[int]]) -> None:
        """Put a batch Redis refused back with what was counted since (under the lock)."""
        oldest = int(self.clock() // 60) - KEEP_MINUTES
        for minute, (accepted, rejected) in batch.items():
            if minute > oldest:
                pending = self._unflushed.setdefault(minute, [0, 0])
                pending[0] += accepted
                pending[1] += rejected

    def minutes(self, n: int = 60) -> list[Minute]:
        """The last `n` minutes, the running one last, every minute present (zero when nothing
        was counted): every process's counts with Redis, this process's without it or when
        Redis fails. Never raises for Redis.

        :raise ValueError: `n` outside 1..120.
        """
        if not 1 <= n <= KEEP_MINUTES:
            raise ValueError(f"n: from 1 to {KEEP_MINUTES} minutes")
        now = int(self.clock() // 60)
        span = range(now - n + 1, now + 1)
        counts = self._shared(span) if self.redis is not None else None
        if counts is None:
            with self._lock:
                counts = [_pair(self._own, m) for m in span]
        pairs = zip(span, counts, strict=True)
        return [Minute(datetime.fromtimestamp(m * 60, UTC), a, r) for m, (a, r) in pairs]

    def _shared(self, span: range) -> list[tuple[int, int]] | None:
        """Every process's counts for these minutes: Redis plus this process's unflushed part
        (None when Redis fails)."""
        with self._flushing:
            pipe = self.redis.pipeline(transaction=False)
            for minute in span:
                pipe.hmget(self._key(minute), "accepted", "rejected")
            try:
                rows = pipe.execute()
                stored = [(int(a or 0), int(r or 0)) for a, r in rows]
            except (RedisError, ValueError) as exc:
                log.debug("activity read from this process only: %s", exc)
                return None
            with self._lock:
                mine = [_pair(self._unflushed, m) for m in span]
            return [(a + ma, r + mr) for (a, r), (ma, mr) in zip(stored, mine, strict=True)]

    def start(self, stopped: threading.Event) -> threading.Thread:
        """Flush every `every` seconds until `stopped` is set, then once more."""

        def run() -> None:
            while not stopped.wait(self.every):
                self._flush_logged()
            self._flush_logged()  # what the last moments counted

        thread = threading.Thread(target=run, name="activity", daemon=True)
        thread.start()
        return thread

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:  # the thread must outlive a bug in one flush
            log.exception("activity flush failed")


def _pair(counts: dict[int, list[int]], minute: int) -> tuple[int, int]:
    accepted, rejected = counts.get(minute, (0, 0))
    return accepted, rejected


def as_json(minutes: list[Minute]) -> ActivityBody:
    """The body of GET /admin/activity."""
    return {"minutes": [{"at": iso(m.at), "accepted": m.accepted, "rejected": m.rejected} for m in minutes]}
