"""Group commit: the work of concurrent callers runs as one batch, one round trip for all.

A caller that finds no batch running leads: it takes everything queued (its own item
included), runs it, hands each caller its own result, then passes the lead to the first caller
that queued meanwhile. Nobody waits for a timer: a batch is whatever arrived while the previous
one ran, so a lone caller pays nothing and a busy process shares each round trip among many.
Works the same with threads and with gevent's greenlets (whose patched `threading` it uses).
With tracing on, the leader's span links to the span of every caller in its batch, and each of
theirs back to the leader's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from redis.exceptions import NoScriptError, ResponseError

from app import tracing

T = TypeVar("T")
R = TypeVar("R")

_WAITING, _LEAD, _DONE = 0, 1, 2


class _Slot(Generic[T, R]):
    __slots__ = ("item", "state", "result", "error", "ready", "span")

    def __init__(self, item: T):
        self.item = item
        self.span = tracing.current()  # the caller's, for the batch's links (None: not tracing)
        self.state = _WAITING
        self.result: R | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()


class Batcher(Generic[T, R]):
    """Runs `run(items) -> results` (one result, or exception, per item) for concurrent callers."""

    def __init__(self, run: Callable[[list[T]], Sequence[R | BaseException]], max_batch: int = 100):
        self._run = run
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._running = False

    def __call__(self, item: T) -> R:
        """The result of `item`, run in a batch with whatever other callers queued.

        :raise: the exception the batch gave this item (or the whole batch).
        """
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._running
            self._running = True
        if not lead:
            slot.ready.wait()
        if slot.state != _DONE:  # leading (from the start, or handed the lead)
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def many(self, items: Sequence[T]) -> list[R | BaseException]:
        """The results of several items of one caller, run in as few batches as they fit (one,
        up to `max_batch` with the others queued): one wait, not one per item. A failed item's
        result is its exception."""
        slots: list[_Slot[T, R]] = [_Slot(item) for item in items]
        if not slots:
            return []
        with self._lock:
            self._queue.extend(slots)
            lead = not self._running
            self._running = True
        for i, slot in enumerate(slots):
            if slot.state == _DONE:
                continue
            if not (lead and i == 0):
                slot.ready.wait()
            if slot.state != _DONE:  # handed the lead (or leading from the start)
                self._lead()
        return [s.error if s.error is not None else s.result for s in slots]  # type: ignore[misc]

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        interrupted: BaseException | None = None
        try:
            tracing.batched([s.span for s in batch])
            results: Sequence[R | BaseException] = self._run([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except Exception as exc:  # every caller learns what happened to its item
            results = [exc] * len(batch)
        except BaseException as exc:  # the leader was interrupted (timeout, kill): the others go on
            interrupted = exc
            results = [RuntimeError("the batch was interrupted")] * len(batch)
        for slot, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                slot.error = result
            else:
                slot.result = result
            slot.state = _DONE
        with self._lock:
            following = self._queue[0] if self._queue else None
            self._running = following is not None
            if following is not None:
                following.state = _LEAD
        for slot in batch:
            slot.ready.set()
        if following is not None:
            following.ready.set()
        if interrupted is not None:
            raise interrupted


def run_scripts(client: Any, calls: Sequence[tuple[Any, Sequence[Any], Sequence[Any]]]) -> list[Any]:
    """Run registered Lua scripts (`(script, keys, args)`) in one pipeline: one round trip.

    EVALSHA only, so no SCRIPT EXISTS round trip per batch; a script Redis does not know (it
    restarted empty) is loaded and run again. A call's own error is its result.

    :raise RedisError: the connection failed.
    """
    pipe = client.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    results = pipe.execute(raise_on_error=False)
    for i, result in enumerate(results):
        if isinstance(result, NoScriptError):
            script, keys, args = calls[i]
            try:
                results[i] = script(keys=keys, args=args, client=client)
            except ResponseError as exc:
                results[i] = exc
    return results
