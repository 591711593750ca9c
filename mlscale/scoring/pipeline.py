"""Overlap the stages of streaming inference: read → predict → write run at the same time.

pyarrow (read, parquet encode) and xgboost (predict) release the GIL, so a stage in a background thread
runs in parallel with the others. `ahead(items)` produces `items` in a daemon thread, at most `depth`
ahead of the consumer; an exception in the producer is raised in the consumer, unchanged; a consumer
that stops early (an error, Ctrl-C) stops the producer at its next item. `ordered_map(fn, items)` runs
`fn` on several items at once and yields the results in the items' order.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class _Producer(Generic[T]):
    def __init__(self, items: Iterable[T], depth: int) -> None:
        self.items = items
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mlscale-ahead", daemon=True)

    def _put(self, item: object) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failed(exc))
            return
        finally:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (and an inner `ahead`'s stop) runs now
        self._put(_DONE)


def ahead(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """`items`, produced in a background thread up to `depth` items ahead of the consumer."""
    producer = _Producer(items, depth)
    producer.thread.start()
    try:
        while True:
            item = producer.queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        producer.stopped.set()
        producer.thread.join(timeout=5)


def ordered_map(fn: Callable[[T], U], items: Iterable[T], *, workers: int) -> Iterator[U]:
    """fn(item) for every item, on `workers` threads, yielded in the items' order, with at most
    `workers` + 1 items in flight. `items` is consumed in the caller's thread. An exception in `fn` is
    raised here, unchanged; a consumer that stops early waits for the calls already running."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlscale-map")
    inflight: deque[Future[U]] = deque()
    try:
        for item in items:
            inflight.append(pool.submit(fn, item))
            if len(inflight) > workers:
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()
    finally:
        for future in inflight:
            future.cancel()
        pool.shutdown(wait=True)
