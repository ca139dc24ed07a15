"""Micro-batching: single-message predictions from concurrent requests share one forward pass.

A lone request is never delayed: the worker waits (at most ``window_ms``) only while other callers are already
waiting for a prediction, and takes up to ``max_batch`` of them into one batch. Errors reach every caller of the
failed batch; nothing is dropped or answered from a stale result.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from collections.abc import Callable

from .policy import Prediction

_STOP = object()


class MicroBatcher:
    def __init__(self, predict_many: Callable[[list[str]], list[Prediction]], window_ms: float, max_batch: int = 32):
        if window_ms <= 0 or max_batch < 1:
            raise ValueError("micro-batching needs window_ms > 0 and max_batch >= 1")
        self._predict_many, self._window, self._max_batch = predict_many, window_ms / 1000, max_batch
        self._queue: queue.Queue = queue.Queue()
        self._announced = 0
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._worker.start()

    def predict(self, text: str) -> Prediction:
        future: Future = Future()
        with self._lock:
            self._announced += 1             # counted until the worker takes the item off the queue
        self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._worker.join(timeout=5)

    def _take(self, timeout: float | None = None):
        item = self._queue.get(timeout=timeout)
        if item is not _STOP:
            with self._lock:
                self._announced -= 1
        return item

    def _collect(self, first) -> list:
        batch = [first]
        deadline = time.monotonic() + self._window
        while len(batch) < self._max_batch:
            with self._lock:
                others = self._announced
            if others <= 0:
                break                             # nobody else is waiting: do not delay a lone request
            try:
                item = self._take(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            first = self._take()
            if first is _STOP:
                return
            batch = self._collect(first)
            try:
                predictions = self._predict_many([text for text, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every caller of this batch
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), prediction in zip(batch, predictions):
                future.set_result(prediction)
