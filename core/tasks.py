"""Tasks the process owns: calls in flight and accounting writes, which no request's cancellation reaches."""

import asyncio
import contextvars
import functools
import logging
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from django.conf import settings

from core.logs import request_context

log = logging.getLogger(__name__)
T = TypeVar("T")
Item = TypeVar("Item")


def call_deadline() -> float:
    """Seconds a whole call (stream included) may last: its hold must outlive it."""
    return float(max(settings.HOLD_TTL - 60, 1))


@functools.cache
def _pending() -> set[asyncio.Task[Any]]:
    """Accounting writes in flight: drained (never cancelled) at shutdown."""
    return set()


@functools.cache
def _calls() -> set[asyncio.Task[Any]]:
    """Calls in flight (pipelines, stream pumps): cancelled at shutdown once the grace period is over."""
    return set()


def _own(
    coro: Coroutine[Any, Any, T], tasks: set[asyncio.Task[Any]], context: contextvars.Context | None = None
) -> asyncio.Task[T]:
    # An empty context: nothing of the request (its cancellation scope, its locals) reaches the task,
    # except, for a call, its request id (core.logs), so the call's log lines carry it.
    context = context if context is not None else contextvars.Context()
    task = asyncio.get_running_loop().create_task(coro, context=context)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Runs an accounting write as a task owned by the process, so no request cancels it."""
    _own(coro, _pending())


def start_call(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Runs a call (or a stream pump) as a task owned by the process: a client leaving does not end it."""
    return _own(coro, _calls(), request_context())


async def calls_end(*, grace: float) -> int:
    """Shutdown: waits up to `grace` seconds for calls in flight, then cancels the rest (they write 503 rows)."""
    tasks = [task for task in _calls() if not task.done()]
    if tasks and grace > 0:
        await asyncio.wait(tasks, timeout=grace)
    late = [task for task in tasks if not task.done()]
    for task in late:
        task.cancel()
    if late:
        log.warning("%d calls still running at shutdown were ended", len(late))
        await asyncio.wait(late, timeout=5)
    return len(late)


async def tasks_drain(timeout: float = 30.0) -> None:
    """Waits for calls in flight and every pending accounting write, new ones included."""
    deadline = asyncio.get_running_loop().time() + timeout
    while tasks := [task for task in _pending() | _calls() if task is not asyncio.current_task()]:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            log.warning("%d accounting writes still pending at the deadline", len(tasks))
            return
        await asyncio.wait(tasks, timeout=remaining)


class Batcher(Generic[Item]):
    """Whatever arrived while the previous batch was being written goes in the next, by a task the process owns.

    At one connection a batch is one item, written at once; under load one thread hop and one
    commit serve many requests. Lives on one event loop. Subclasses say how much of the queue
    a batch takes and how it is written; `flush` handles its own failures (one that escapes is
    logged and the next batch goes on).

    A subclass may linger: a batch shorter than `linger_items` waits `linger()` seconds for
    company before it is written (the usage writer, whose rows are already safe in the journal;
    never a batcher a request waits on).
    """

    linger_items = 0

    def __init__(self) -> None:
        self.queue: list[Item] = []
        self.running = False

    def add(self, item: Item) -> None:
        self.queue.append(item)
        self.kick()

    def kick(self) -> None:
        """Starts the writing task unless it runs."""
        if not self.running:
            self.running = True
            spawn(self._run())

    def pending(self) -> bool:
        """Whether there is something to write."""
        return bool(self.queue)

    def linger(self) -> float:
        """Seconds a batch shorter than `linger_items` waits for more items; 0: written at once."""
        return 0.0

    def take(self) -> list[Item]:
        batch, self.queue = self.queue, []
        return batch

    async def flush(self, batch: list[Item]) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        try:
            while self.pending():
                if len(self.queue) < self.linger_items and (wait := self.linger()):
                    await asyncio.sleep(wait)
                await self.flush(self.take())
        except Exception:
            log.exception("%s failed", type(self).__name__)
        finally:
            self.running = False
            if self.pending():  # arrived after the loop ended, or left by a failure: carry on
                self.kick()
