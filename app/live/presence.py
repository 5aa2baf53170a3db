"""How many live connections all processes hold: each reports its own to Redis every few seconds.

Without Redis (the embedded mode, one process) the total is this process's count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, redis: Any, key: str, me: str, count: Callable[[], int], every: float = 5.0):
        self.redis = redis
        self.key = key
        self.me = me
        self.count = count
        self.every = every

    def report(self) -> None:
        """Record this process's count, with the time, in the shared hash."""
        if self.redis is not None:
            self.redis.hset(self.key, self.me, f"{self.count()}|{time.time()}")

    def total(self) -> int:
        """Connections held by every process that reported in the last three periods."""
        if self.redis is None:
            return self.count()
        try:
            self.report()
            rows = self.redis.hgetall(self.key)
        except RedisError:
            return self.count()
        fresh = time.time() - 3 * self.every
        total = 0
        for value in rows.values():
            count, _, at = value.decode().partition("|")
            if float(at) >= fresh:
                total += int(count)
        return total

    def start(self, stopped: threading.Event) -> threading.Thread:
        def run() -> None:
            while not stopped.wait(self.every):
                try:
                    self.report()
                except RedisError as exc:
                    log.debug("presence not reported: %s", exc)

        thread = threading.Thread(target=run, name="presence", daemon=True)
        thread.start()
        return thread
