"""`ahead`: items produced in a background thread arrive in order, errors arrive unchanged, an early stop
stops the producer."""

from __future__ import annotations

import threading
import time

import pytest

from mlscale.errors import DataError
from mlscale.scoring.pipeline import ahead, ordered_map


def test_items_arrive_in_order_and_are_produced_in_another_thread():
    threads: list[str] = []

    def produce():
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    assert list(ahead(produce(), depth=3)) == list(range(50))
    assert set(threads) == {"mlscale-ahead"}


def test_the_producer_runs_ahead_while_the_consumer_works():
    """Two stages of 0.1 s per item overlap: 10 items take ~1 s, not ~2 s."""

    def slow():
        for i in range(10):
            time.sleep(0.1)
            yield i

    started = time.perf_counter()
    for _ in ahead(slow()):
        time.sleep(0.1)
    assert time.perf_counter() - started < 1.6


def test_a_producer_error_is_raised_in_the_consumer_unchanged():
    def failing():
        yield 1
        raise DataError("input.csv: column x is missing")

    got = []
    with pytest.raises(DataError, match="column x is missing"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced: list[int] = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = ahead(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 5
    assert not any(t.name == "mlscale-ahead" for t in threading.enumerate())


def test_ordered_map_keeps_the_order_and_runs_items_at_once():
    """Two calls meet at a barrier (one at a time, it would break after 5 s); calls that finish out of
    order still come back in the items' order."""
    threads: set[str] = set()
    both = threading.Barrier(2, timeout=5)

    def work(i: int) -> int:
        threads.add(threading.current_thread().name)
        both.wait()
        time.sleep(0.02 if i % 2 else 0.05)  # the odd item of each pair finishes first
        return i * i

    assert list(ordered_map(work, range(10), workers=2)) == [i * i for i in range(10)]
    assert len(threads) == 2 and all(t.startswith("mlscale-map") for t in threads)


def test_ordered_map_raises_a_calls_error_unchanged_and_stops_submitting():
    submitted: list[int] = []

    def items():
        for i in range(100):
            submitted.append(i)
            yield i

    def work(i: int) -> int:
        if i == 3:
            raise DataError("input.csv: column x is missing")
        return i

    got = []
    with pytest.raises(DataError, match="column x is missing"):
        for item in ordered_map(work, items(), workers=2):
            got.append(item)
    assert got == [0, 1, 2] and len(submitted) < 10
