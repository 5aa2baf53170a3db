"""The per-IP API limit (SPEC §10), counted without a Redis round trip per request.

A fixed window per address. Each process counts its own hits and adds them to the shared Redis
counter in the background every `sync_interval` seconds (one pipeline for all addresses), learning
the total in the same call. A request is allowed while the last known total plus this process's
unsent hits stays under the limit. Close to the limit (the last tenth) and on an address's first
hit in a window, the process asks Redis at once, so a single process is exact and several
processes can overshoot by at most what they accept in one sync interval. Without Redis (the
embedded mode, or Redis down) the count is this process's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

from app.fraud.limits import parse_limit
from app.threads import join

log = logging.getLogger(__name__)


class _Window:
    __slots__ = ("number", "known", "pending")

    def __init__(self, number: int):
        self.number = number
        self.known = 0  # the shared total when last asked (includes our sent hits)
        self.pending = 0  # our hits not yet added to the shared total


class AddressLimit:
    """`hit(address)` → 0 when allowed, else the seconds until the window resets."""

    def __init__(
        self,
        limit: str,
        redis: Redis | None = None,
        prefix: str = "ip",
        sync_interval: float = 0.1,
        clock: Callable[[], float] = time.time,
    ):
        item = parse_limit(limit)
        self.limit = item.amount
        self.period = item.get_expiry()
        self.redis = redis
        self.prefix = prefix
        self.sync_interval = sync_interval
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def hit(self, address: str) -> int:
        now = self.clock()
        number = int(now // self.period)
        w = self._windows.get(address)
        if w is None or w.number != number:
            w = self._windows[address] = _Window(number)
            self._sync(address, w, 1)
        elif (w.known + w.pending + 1) * 10 > self.limit * 9:
            self._sync(address, w, w.pending + 1)
        else:
            w.pending += 1
            self._start()
        if w.known + w.pending <= self.limit:
            return 0
        return max(1, int((number + 1) * self.period - now + 0.999))

    def _key(self, address: str, number: int) -> str:
        return f"{self.prefix}:{address}:{number}"

    def _sync(self, address: str, w: _Window, hits: int) -> None:
        """Add `hits` to the shared total now and learn it."""
        w.pending = 0
        if self.redis is not None:
            try:
                pipe = self.redis.pipeline(transaction=False)
                key = self._key(address, w.number)
                pipe.incrby(key, hits)
                pipe.expire(key, self.period + 1)
                w.known = int(pipe.execute()[0])
                return
            except RedisError as exc:
                log.warning("per-IP limit counted in this process only (%s)", exc)
        w.known += hits

    def flush(self) -> None:
        """Send every address's unsent hits in one pipeline; forget past windows."""
        current = int(self.clock() // self.period)
        batch: list[tuple[str, _Window, int]] = []
        for address, w in list(self._windows.items()):
            if w.number != current:
                del self._windows[address]
            elif w.pending:
                batch.append((address, w, w.pending))
                w.pending = 0
        totals = [w.known + hits for _, w, hits in batch]  # what we know without Redis
        if batch and self.redis is not None:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for address, w, hits in batch:
                    key = self._key(address, w.number)
                    pipe.incrby(key, hits)
                    pipe.expire(key, self.period + 1)
                totals = [int(t) for t in pipe.execute()[::2]]
            except RedisError as exc:
                log.warning("per-IP limit counted in this process only (%s)", exc)
        for (_, w, _), total in zip(batch, totals, strict=True):
            w.known = max(w.known, total)

    def _start(self) -> None:
        """The background sync (it also forgets past windows, with or without Redis)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="address-limit", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.sync_interval):
            try:
                self.flush()
            except Exception:
                log.exception("per-IP limit flush failed")

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            join(self._thread)
        self.flush()
