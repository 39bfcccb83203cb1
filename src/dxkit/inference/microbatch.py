"""Group concurrent single-case requests into one model call, for a few milliseconds at most.

Why: a transformer costs nearly the same for 8 short cases as for one (the matrices are
too small to keep two cores busy), so a service answering concurrent requests one by one
wastes most of its CPU. The batcher collects requests until ``max_batch`` have arrived or
``max_wait_ms`` has passed since the *first* of them, whichever comes first, then runs
``predict_batch`` in a worker thread (the event loop keeps accepting requests meanwhile)
and resolves each request's future with its own result.

Bounds: the collection window caps the extra wait of a request that arrives alone; the
queue holds at most ``max_queue`` requests, and a request beyond that fails at once with
:class:`BatcherFullError` (back-pressure: the caller answers 503 rather than queueing
without limit). A request whose caller gave up (cancelled) is dropped from its batch. An
exception raised by ``predict_batch`` reaches every request of that batch.

Usage::

    batcher = MicroBatcher(model_predict, max_batch=32, max_wait_ms=3)
    result = await batcher.submit(case)   # inside any coroutine
    await batcher.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from dxkit.errors import DxkitError, InputError

X = TypeVar("X")
Y = TypeVar("Y")


class BatcherFullError(DxkitError):
    """The request queue is full: the service is overloaded and should answer 503."""


@dataclass
class _Pending(Generic[X, Y]):
    item: X
    future: asyncio.Future[Y]


class MicroBatcher(Generic[X, Y]):
    """Collects concurrent :meth:`submit` calls into batches for ``predict_batch``."""

    def __init__(
        self,
        predict_batch: Callable[[list[X]], Sequence[Y]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 3.0,
        max_queue: int = 1024,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or not 0 <= max_wait_ms <= 1000:
            raise InputError(
                "micro-batcher settings",
                expected="max_batch >= 1, max_queue >= 1, 0 <= max_wait_ms <= 1000",
                found=f"max_batch={max_batch}, max_queue={max_queue}, max_wait_ms={max_wait_ms}",
                fix="pass settings in range (defaults: 32, 1024, 3 ms)",
            )
        self.predict_batch = predict_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        # sizes of the most recent batches (for metrics and tests); bounded, so a service
        # that runs for months does not grow a list per request
        self.batch_sizes: deque[int] = deque(maxlen=4096)
        self._queue: asyncio.Queue[_Pending[X, Y]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._running: list[_Pending[X, Y]] = []  # the batch in the worker thread now

    def _start(self) -> asyncio.Queue[_Pending[X, Y]]:
        """Create the queue and worker on the running loop at the first request."""
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue(maxsize=self.max_queue)
            self._executor = self._executor or ThreadPoolExecutor(1, "dxkit-microbatch")
            self._worker = asyncio.get_running_loop().create_task(self._run())
        return self._queue

    async def submit(self, item: X) -> Y:
        """The result of ``predict_batch`` for ``item``, batched with concurrent calls.

        Raises:
            BatcherFullError: ``max_queue`` requests are already waiting.
            Exception: whatever ``predict_batch`` raised for this request's batch.
        """
        queue = self._start()
        future: asyncio.Future[Y] = asyncio.get_running_loop().create_future()
        try:
            queue.put_nowait(_Pending(item, future))
        except asyncio.QueueFull:
            raise BatcherFullError(
                "diagnosis queue",
                expected=f"at most {self.max_queue} waiting requests",
                found="the queue is full",
                fix="retry shortly; the service is at capacity",
            ) from None
        return await future

    async def _collect(self, queue: asyncio.Queue[_Pending[X, Y]]) -> list[_Pending[X, Y]]:
        """The first waiting request plus those arriving within the window."""
        batch = [await queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        assert self._queue is not None
        queue, loop = self._queue, asyncio.get_running_loop()
        while True:
            batch = [p for p in await self._collect(queue) if not p.future.done()]
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            items = [p.item for p in batch]
            self._running = batch
            try:
                results = await loop.run_in_executor(self._executor, self.predict_batch, items)
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"predict_batch returned {len(results)} results for {len(batch)} items"
                    )
            except Exception as exc:  # every waiter of the batch gets the same error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            finally:
                self._running = []
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():  # cancelled while the batch ran
                    pending.future.set_result(result)

    async def close(self) -> None:
        """Stop the worker; requests still waiting are cancelled."""
        running, self._running = self._running, []
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for pending in running:
            pending.future.cancel()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait().future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._queue, self._worker, self._executor = None, None, None
