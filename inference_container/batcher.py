"""Micro-batching for /predict: a bounded queue, a resizable pool of workers, deadlines.

Each worker takes the first waiting job, gathers more for up to BATCH_TIMEOUT_MS (at most BATCH_SIZE),
drops jobs already past their deadline, and runs the batch in a thread (the model releases the GIL), so
the event loop keeps accepting requests. Resizing adds workers at once or retires the extra ones after
their current batch: nothing in flight is ever cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flts.log import log_event

from . import metrics

logger = logging.getLogger(__name__)


class QueueFullError(Exception):
    """The bounded queue is full: HTTP 429."""


class DeadlineExceededError(Exception):
    """The job's deadline passed before it finished: HTTP 504."""


@dataclass
class Job:
    payload: Any
    deadline: float  # time.monotonic()
    enqueued: float = field(default_factory=time.monotonic)
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(DeadlineExceededError(f"no result within {timeout * 1000:.0f} ms"))


class MicroBatcher:
    def __init__(
        self,
        run_batch: Callable[[Sequence[Any]], Sequence[Any]],
        batch_size: int,
        batch_timeout_ms: float,
        queue_maxsize: int,
        workers: int,
        max_workers: int,
    ) -> None:
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout_ms / 1000.0
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_maxsize)
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="predict")
        self._target = workers
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._next_id = 0

    @property
    def workers(self) -> int:
        return self._target

    async def start(self) -> None:
        self.resize(self._target)

    def resize(self, workers: int) -> int:
        """Set the number of workers; returns the previous number."""
        previous = self._target
        self._target = workers
        alive = [wid for wid, task in self._tasks.items() if not task.done()]
        for _ in range(workers - len(alive)):
            self._spawn()
        metrics.WORKERS.set(workers)
        if previous != workers:
            log_event(logger, "workers_resized", previous=previous, workers=workers)
        return previous

    def _spawn(self) -> None:
        worker_id = self._next_id
        self._next_id += 1
        self._tasks[worker_id] = asyncio.get_running_loop().create_task(self._work(worker_id))

    def _should_retire(self, worker_id: int) -> bool:
        alive = sorted(wid for wid, task in self._tasks.items() if not task.done())
        return worker_id in alive[self._target :]

    async def submit(self, payload: Any, timeout: float) -> Any:
        job = Job(payload, deadline=time.monotonic() + timeout)
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull as exc:
            raise QueueFullError(f"queue full ({self.queue.maxsize} waiting)") from exc
        metrics.QUEUE_DEPTH.set(self.queue.qsize())
        loop = asyncio.get_running_loop()
        # A timer instead of asyncio.wait_for: one heap entry, no extra task per request.
        timer = loop.call_at(loop.time() + timeout, _expire, job.future, timeout)
        try:
            return await job.future
        finally:
            timer.cancel()

    async def _work(self, worker_id: int) -> None:
        while not self._should_retire(worker_id):
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            if self.batch_timeout > 0 and self.queue.qsize() < self.batch_size - 1:
                await asyncio.sleep(self.batch_timeout)  # let a batch gather (one timer per batch)
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            metrics.QUEUE_DEPTH.set(self.queue.qsize())
            await self._run(batch)
        self._tasks.pop(worker_id, None)

    async def _run(self, batch: list[Job]) -> None:
        now = time.monotonic()
        live = []
        for job in batch:
            metrics.QUEUE_WAIT.observe(now - job.enqueued)
            if job.future.done():
                continue
            if job.deadline <= now:
                job.future.set_exception(DeadlineExceededError("deadline passed while queued"))
            else:
                live.append(job)
        if not live:
            return
        metrics.BATCH_SIZE.observe(len(live))
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, self.run_batch, [job.payload for job in live])
        except Exception as exc:  # the batch failed: every request in it gets the error
            log_event(
                logger, "predict_batch_failed", logging.ERROR, size=len(live), error=repr(exc), exc_info=exc
            )
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for job, result in zip(live, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    async def stop(self) -> None:
        self._target = 0
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self.executor.shutdown(wait=True)
