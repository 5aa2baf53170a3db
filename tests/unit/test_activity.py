"""Submits per minute (app/admin/activity.py) under a clock the test moves: which minute a submit
lands in, the hour read back zero-filled, every process's counts through Redis, and this
process's own when Redis fails."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.admin.activity import KEEP_MINUTES, Activity, Minute, as_json
from app.services import redis_client
from tests.unit.conftest import FakeClock

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
GONE = "redis://127.0.0.1:1/0"  # nothing listens there


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def counted(activity: Activity, n: int = 60) -> list[tuple[int, int]]:
    return [(m.accepted, m.rejected) for m in activity.minutes(n)]


def nonzero(activity: Activity, n: int = 60) -> dict[str, tuple[int, int]]:
    """The minutes with a count, by their start (HH:MM)."""
    return {m.at.strftime("%H:%M"): (m.accepted, m.rejected) for m in activity.minutes(n) if m[1:] != (0, 0)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOON + 30)  # 12:00:30


@pytest.fixture
def shared(redis_url: str) -> Iterator[tuple[Any, str]]:
    """A Redis client and a namespace of this test's own (deleted afterwards)."""
    client = redis_client(redis_url)
    namespace = f"test-activity-{uuid.uuid4().hex[:12]}"
    yield client, namespace
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_submit_counts_in_the_utc_minute_it_was_made(clock: FakeClock) -> None:
    activity = Activity(None, "ns", clock)
    clock.now = NOON + 59.999  # 12:00:59.999
    activity.count(True)
    activity.count(False)
    clock.now = NOON + 60  # 12:01:00 exactly: the next minute
    activity.count(True)
    clock.now = NOON + 61
    activity.count(True)
    minutes = activity.minutes(2)
    assert minutes == [Minute(at("2026-12-03T12:00"), 1, 1), Minute(at("2026-12-03T12:01"), 2, 0)]
    assert all(m.at.tzinfo is UTC for m in minutes)


def test_the_hour_is_sixty_minutes_oldest_first_zero_filled_with_the_running_one_last(
    clock: FakeClock,
) -> None:
    activity = Activity(None, "ns", clock)
    clock.now = NOON - 59 * 60 + 5  # 11:01:05, the oldest minute of the hour read at 12:00
    activity.count(False)
    clock.now = NOON - 60 * 60 + 5  # 11:00:05: an hour and more before the read
    activity.count(True)
    clock.now = NOON - 30 * 60  # 11:30
    activity.count(True)
    clock.now = NOON + 30  # 12:00:30, the running minute
    activity.count(True)
    activity.count(True)
    minutes = activity.minutes()
    assert len(minutes) == 60
    assert minutes[0].at == at("2026-12-03T11:01") and minutes[-1].at == at("2026-12-03T12:00")
    assert [b.at - a.at for a, b in zip(minutes, minutes[1:], strict=False)] == [timedelta(minutes=1)] * 59
    assert nonzero(activity) == {"11:01": (0, 1), "11:30": (1, 0), "12:00": (2, 0)}
    assert nonzero(activity, 61)["11:00"] == (1, 0)  # still kept, outside the hour
    clock.advance(60 * 60)  # an hour later, nothing counted since: all zero
    assert counted(activity) == [(0, 0)] * 60


def test_the_body_has_the_apis_times(clock: FakeClock) -> None:
    activity = Activity(None, "ns", clock)
    activity.count(True)
    body = as_json(activity.minutes(3))
    assert body == {
        "minutes": [
            {"at": "2026-12-03T11:58:00.000Z", "accepted": 0, "rejected": 0},
            {"at": "2026-12-03T11:59:00.000Z", "accepted": 0, "rejected": 0},
            {"at": "2026-12-03T12:00:00.000Z", "accepted": 1, "rejected": 0},
        ]
    }


def test_memory_keeps_two_hours_and_reads_at_most_that(clock: FakeClock) -> None:
    activity = Activity(None, "ns", clock)
    for _ in range(KEEP_MINUTES + 30):
        activity.count(True)
        clock.advance(60)
    assert len(activity._own) <= KEEP_MINUTES + 1
    assert len(activity.minutes(KEEP_MINUTES)) == KEEP_MINUTES
    for n in (0, KEEP_MINUTES + 1):
        with pytest.raises(ValueError):
            activity.minutes(n)


def test_every_process_counts_through_redis_with_what_is_not_flushed_yet(
    clock: FakeClock, shared: tuple[Any, str]
) -> None:
    client, namespace = shared
    web1, web2 = Activity(client, namespace, clock), Activity(client, namespace, clock)
    web1.count(True)
    web1.count(False)
    web2.count(True)
    assert nonzero(web1) == {"12:00": (1, 1)}  # web2 has not flushed: web1 sees its own only
    assert web2.flush()
    assert nonzero(web1) == {"12:00": (2, 1)}  # its own, unflushed, and web2's from Redis
    assert nonzero(web2) == {"12:00": (1, 0)}  # web1's are not in Redis yet
    assert web1.flush()
    assert nonzero(web1) == nonzero(web2) == {"12:00": (2, 1)}  # each count once, flushed or not
    clock.advance(60)
    web2.count(False)
    assert web2.flush() and web1.flush()  # web1: nothing to send
    assert nonzero(web1) == {"12:00": (2, 1), "12:01": (0, 1)}

    key = f"{namespace}:activity:{int(NOON)}"  # the minute's start in Unix seconds
    assert client.hgetall(key) == {b"accepted": b"2", b"rejected": b"1"}
    assert 2 * 3600 - 5 <= client.ttl(key) <= 2 * 3600
    assert client.hgetall(f"{namespace}:activity:{int(NOON) + 60}") == {b"rejected": b"1"}


def test_a_flush_sends_one_transaction_and_nothing_when_idle(
    clock: FakeClock, shared: tuple[Any, str]
) -> None:
    client, namespace = shared
    sent: list[list[Any]] = []

    class Recording:
        def pipeline(self, transaction: bool = True) -> Any:
            pipe = client.pipeline(transaction=transaction)
            execute = pipe.execute

            def recorded() -> Any:
                sent.append([(transaction, *c[0][:2]) for c in pipe.command_stack])
                return execute()

            pipe.execute = recorded
            return pipe

    activity = Activity(Recording(), namespace, clock)
    assert activity.flush() and sent == []  # nothing counted: no round trip
    activity.count(True)
    clock.advance(60)
    activity.count(True)
    activity.count(False)
    assert activity.flush()
    first, second = f"{namespace}:activity:{int(NOON)}", f"{namespace}:activity:{int(NOON) + 60}"
    assert sent == [
        [
            (True, "HINCRBY", first),
            (True, "EXPIRE", first),
            (True, "HINCRBY", second),
            (True, "HINCRBY", second),
            (True, "EXPIRE", second),
        ]
    ]
    assert activity.flush() and len(sent) == 1


def test_redis_down_falls_back_to_this_process_and_flushes_later(
    clock: FakeClock, shared: tuple[Any, str]
) -> None:
    client, namespace = shared
    other = Activity(client, namespace, clock)
    other.count(True)
    assert other.flush()  # another process's count, in Redis

    activity = Activity(redis_client(GONE), namespace, clock)
    activity.count(True)
    activity.count(False)
    assert not activity.flush()  # kept for later
    clock.advance(60)
    activity.count(True)
    assert nonzero(activity) == {"12:00": (1, 1), "12:01": (1, 0)}  # its own counts, no raise

    activity.redis.close()
    activity.redis = client  # Redis is back
    assert nonzero(activity) == {"12:00": (2, 1), "12:01": (1, 0)}  # unflushed ones added to Redis's
    assert activity.flush()
    assert nonzero(other) == {"12:00": (2, 1), "12:01": (1, 0)}


def test_the_flush_thread_flushes_each_period_and_once_more_when_stopped(
    clock: FakeClock, shared: tuple[Any, str]
) -> None:
    client, namespace = shared
    reader = Activity(client, namespace, clock)
    often = Activity(client, namespace, clock, every=0.02)
    stopped = threading.Event()
    threads = [often.start(stopped)]
    try:
        often.count(True)
        for _ in range(500):
            if nonzero(reader):
                break
            stopped.wait(0.01)
        assert nonzero(reader) == {"12:00": (1, 0)}  # flushed by the period, not by a read
        rarely = Activity(client, namespace, clock, every=3600.0)  # the period never comes
        threads.append(rarely.start(stopped))
        rarely.count(False)
    finally:
        stopped.set()
        for thread in threads:
            thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
    assert nonzero(reader) == {"12:00": (1, 1)}  # the last flush, on stopping


def test_without_redis_nothing_is_kept_to_flush(clock: FakeClock) -> None:
    activity = Activity(None, "ns", clock)
    activity.count(True)
    assert activity.flush() and activity._unflushed == {}


def test_a_redis_that_answers_garbage_is_redis_failing(clock: FakeClock, shared: tuple[Any, str]) -> None:
    client, namespace = shared
    client.hset(f"{namespace}:activity:{int(NOON)}", "accepted", "not a number")
    activity = Activity(client, namespace, clock)
    activity.count(False)
    assert nonzero(activity) == {"12:00": (0, 1)}
