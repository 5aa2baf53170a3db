"""Group commit: concurrent callers share one batch and each gets its own result."""

from __future__ import annotations

import threading

import pytest

from app.batch import Batcher


class Gate:
    """A batch function that holds its first batch until released, recording every batch."""

    def __init__(self, fail: set[int] | None = None, explode: bool = False):
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail or set()
        self.explode = explode

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            self.release.wait(10)
        if self.explode and len(self.batches) > 1:
            raise ConnectionError("database gone")
        return [ValueError(i) if i in self.fail else i * 10 for i in items]


def call_all(batcher: Batcher, gate: Gate, items: list[int]) -> dict[int, object]:
    """Item 0 leads and is held; the others queue behind it; then all finish."""
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = batcher(i)
        except Exception as exc:
            results[i] = exc

    first = threading.Thread(target=call, args=(items[0],))
    first.start()
    assert gate.entered.wait(10)
    rest = [threading.Thread(target=call, args=(i,)) for i in items[1:]]
    for t in rest:
        t.start()
    while len(batcher._queue) < len(rest):  # all queued behind the running batch
        threading.Event().wait(0.001)
    gate.release.set()
    for t in [first, *rest]:
        t.join(10)
    return results


def test_callers_that_arrive_during_a_batch_share_the_next_one() -> None:
    gate = Gate()
    results = call_all(Batcher(gate), gate, list(range(8)))
    assert gate.batches[0] == [0]
    assert sorted(gate.batches[1]) == list(range(1, 8)) and len(gate.batches) == 2
    assert results == {i: i * 10 for i in range(8)}


def test_one_items_failure_reaches_only_its_caller() -> None:
    gate = Gate(fail={3})
    results = call_all(Batcher(gate), gate, list(range(6)))
    assert isinstance(results[3], ValueError)
    assert {i: r for i, r in results.items() if i != 3} == {i: i * 10 for i in range(6) if i != 3}


def test_a_failed_batch_fails_each_caller_in_it_and_the_next_batch_still_runs() -> None:
    gate = Gate(explode=True)
    batcher = Batcher(gate)
    results = call_all(batcher, gate, list(range(5)))
    assert results[0] == 0
    assert all(isinstance(results[i], ConnectionError) for i in range(1, 5))
    gate.explode = False
    assert batcher(7) == 70  # not stuck: the lead was passed on and released


def test_batches_are_capped() -> None:
    gate = Gate()
    results = call_all(Batcher(gate, max_batch=3), gate, list(range(8)))
    assert [len(b) for b in gate.batches] == [1, 3, 3, 1]
    assert results == {i: i * 10 for i in range(8)}


def test_a_lone_caller_runs_at_once() -> None:
    seen: list[list[str]] = []
    batcher: Batcher[str, str] = Batcher(lambda items: seen.append(items) or [s.upper() for s in items])
    assert batcher("a") == "A" and batcher("b") == "B"
    assert seen == [["a"], ["b"]]


def test_a_batch_giving_the_wrong_number_of_results_is_an_error_for_everyone() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: [])
    with pytest.raises(RuntimeError):
        batcher(1)
