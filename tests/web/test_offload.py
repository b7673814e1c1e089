"""Large bodies are parsed off the event loop, a bounded number at a time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bridge.sandbox import Sandbox
from bridge.web.offload import Offload
from tests.providers.test_sendgrid import Signer, body_of
from tests.providers.webhooks import bridge_with, sample

T = TypeVar("T")


async def test_small_inputs_run_in_place_and_large_ones_on_a_thread() -> None:
    offload = Offload(at_once=2, inline_below=100)
    loop_thread = threading.get_ident()
    assert await offload.run(99, threading.get_ident) == loop_thread
    assert await offload.run(100, threading.get_ident) != loop_thread


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts the work handed to it, at the moment it is handed."""

    def __init__(self) -> None:
        super().__init__(max_workers=8)
        self.submitted = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


async def test_no_more_than_at_once_run_together() -> None:
    offload = Offload(at_once=2, inline_below=0)
    pool = CountingPool()  # a third thread would have to come from here
    asyncio.get_running_loop().set_default_executor(pool)
    lock, release = threading.Lock(), threading.Event()
    running = peak = 0

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1

    tasks = [asyncio.create_task(offload.run(1, work)) for _ in range(5)]
    try:
        async with asyncio.timeout(5):
            while running < 2:  # noqa: ASYNC110 - the threads say nothing to the loop
                await asyncio.sleep(0.01)
        # Every task has started: two hold a slot, three wait for one, and no thread was asked
        # for them; none can be until a running one returns.
        assert all(not task.done() for task in tasks)
        assert (pool.submitted, running) == (2, 2)
    finally:
        release.set()
    await asyncio.gather(*tasks)
    assert (pool.submitted, peak) == (5, 2)


class Recording(Offload):
    """An Offload that notes what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    async def run(self, size: int, work: Callable[[], T]) -> T:
        self.seen.append((getattr(work, "func", work).__name__, size))
        return await super().run(size, work)


def test_a_webhook_is_read_and_parsed_through_the_offload(tmp_path: Path, sandbox: Sandbox) -> None:
    signer = Signer()
    event = sample("sendgrid-unsubscribe.json")[0]
    body = body_of(*[{**event, "sg_event_id": f"e{i}"} for i in range(400)])
    assert len(body) > 64 * 1024
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        recording = Recording()
        client.app.state.offload = recording  # type: ignore[attr-defined]
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        assert response.status_code == 200
    assert recording.seen == [("read", len(body)), ("parse", len(body))]
