"""MicroBatcher: grouping, the wait bound, back-pressure, errors and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dxkit.errors import InputError
from dxkit.inference.microbatch import BatcherFullError, MicroBatcher


def double(items: list[int]) -> list[int]:
    return [2 * x for x in items]


def test_concurrent_requests_share_a_batch() -> None:
    async def main() -> tuple[list[int], list[int]]:
        batcher = MicroBatcher(double, max_batch=8, max_wait_ms=50)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.close()
        return list(results), list(batcher.batch_sizes)

    results, sizes = asyncio.run(main())
    assert results == [2 * i for i in range(20)]  # each caller gets its own answer
    assert sizes == [8, 8, 4]  # max_batch caps a batch


def test_a_lone_request_waits_at_most_the_window() -> None:
    async def main() -> float:
        batcher = MicroBatcher(double, max_batch=64, max_wait_ms=20)
        start = time.perf_counter()
        assert await batcher.submit(3) == 6
        elapsed = time.perf_counter() - start
        await batcher.close()
        return elapsed

    elapsed = asyncio.run(main())
    assert 0.015 <= elapsed < 0.5  # waited for company, but not much longer than 20 ms


def test_errors_reach_every_waiter_of_the_batch() -> None:
    def broken(items: list[int]) -> list[int]:
        raise ValueError("model failed")

    async def main() -> list[object]:
        batcher = MicroBatcher(broken, max_batch=4, max_wait_ms=20)
        out = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
        await batcher.close()
        return list(out)

    out = asyncio.run(main())
    assert len(out) == 3 and all(isinstance(e, ValueError) for e in out)


def test_wrong_result_count_is_an_error() -> None:
    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            lambda items: [1], max_batch=4, max_wait_ms=20
        )
        try:
            await asyncio.gather(batcher.submit(1), batcher.submit(2))
        finally:
            await batcher.close()

    with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        asyncio.run(main())


def test_full_queue_is_back_pressure() -> None:
    gate = threading.Event()

    def slow(items: list[int]) -> list[int]:
        gate.wait(5)
        return items

    async def main() -> None:
        batcher = MicroBatcher(slow, max_batch=1, max_wait_ms=0, max_queue=2)
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)  # the worker took it and blocks in the thread
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(BatcherFullError, match="the queue is full"):
            await batcher.submit(3)
        gate.set()
        assert await first == 0 and await asyncio.gather(*waiting) == [1, 2]
        await batcher.close()

    asyncio.run(main())


def test_cancelled_request_is_dropped_from_its_batch() -> None:
    seen: list[list[int]] = []

    def record(items: list[int]) -> list[int]:
        seen.append(list(items))
        return items

    async def main() -> None:
        batcher = MicroBatcher(record, max_batch=8, max_wait_ms=30)
        keep = asyncio.ensure_future(batcher.submit(1))
        drop = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.005)
        drop.cancel()
        assert await keep == 1
        assert drop.cancelled()
        await batcher.close()

    asyncio.run(main())
    assert seen == [[1]]


def test_close_cancels_requests_in_flight() -> None:
    gate = threading.Event()

    def slow(items: list[int]) -> list[int]:
        gate.wait(5)
        return items

    async def main() -> None:
        batcher = MicroBatcher(slow, max_batch=4, max_wait_ms=0)
        pending = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        await batcher.close()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await pending

    asyncio.run(main())


def test_settings_are_checked() -> None:
    with pytest.raises(InputError, match="max_batch >= 1"):
        MicroBatcher(double, max_batch=0)
