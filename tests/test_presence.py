"""Live connections counted over every process (the admin page's live count)."""

from __future__ import annotations

import time
import uuid

import redis

from app.live.presence import Presence
from app.services import redis_client


def test_every_fresh_report_counts_and_stale_ones_do_not(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"test:presence:{uuid.uuid4().hex}"
    try:
        here = Presence(client, key, "host-a:1", lambda: 3)
        Presence(client, key, "host-b:7", lambda: 4).report()
        client.hset(key, "host-c:9", f"100|{time.time() - 60}")  # a process that stopped reporting
        assert here.total() == 7
    finally:
        client.delete(key)
        client.close()


def test_without_redis_it_is_this_process() -> None:
    assert Presence(None, "unused", "me", lambda: 5).total() == 5
    gone = redis_client("redis://127.0.0.1:1/0")  # nothing listens there
    assert Presence(gone, "k", "me", lambda: 2).total() == 2
