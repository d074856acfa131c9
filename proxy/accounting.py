"""Accounting after a proxied call: price the usage, write the row, settle the budget.

The write runs in a task the process owns, never in the request's own frame: a client
that disconnects cancels its request, and a write cancelled half-way loses the row
(NOTES: measured). Pending tasks are awaited at shutdown (`accounting_drain`).
"""

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from gateway_project.cache import MISSING, cache_peek, l1
from gateway_project.logs import log_call_finished
from gateway_project.metrics import metrics_call_finished
from gateway_project.pool import in_pool
from keys.services import key_touch
from pricing.selectors import TokenCounts, cost_calculate
from proxy.admission import Admission
from proxy.auth import Principal
from proxy.forwarding import Route, Usage
from proxy.ratelimit import tpm_add
from usage.services import UsageEntry, usage_record, usage_record_many

log = logging.getLogger(__name__)
_MAX_BATCH = 500


@dataclass
class CallRecord:
    """One request as it goes through the pipeline; filled in as facts become known."""

    principal: Principal
    route: Route
    request_id: uuid.UUID
    started: float
    model: str = ""
    streamed: bool = False
    admission: Admission | None = None


@functools.cache
def _pending() -> set[asyncio.Task[None]]:
    return set()


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Runs `coro` as a task owned by the process, in an empty context, so no request cancels it."""
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    _pending().add(task)
    task.add_done_callback(_pending().discard)


async def accounting_drain(timeout: float = 30.0) -> None:
    """Waits for every pending accounting write (shutdown, tests), including ones spawned meanwhile."""
    deadline = asyncio.get_running_loop().time() + timeout
    while tasks := [task for task in _pending() if task is not asyncio.current_task()]:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            log.warning("%d accounting writes still pending at the deadline", len(tasks))
            return
        await asyncio.wait(tasks, timeout=remaining)


def _tokens(usage: Usage) -> TokenCounts:
    return TokenCounts(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )


def _entry(call: CallRecord, status: int, usage: Usage, error_code: str) -> UsageEntry:
    admission = call.admission
    tokens = _tokens(usage)
    return UsageEntry(
        request_id=call.request_id,
        account_id=call.principal.account.id,
        key_id=call.principal.key.id,
        route=call.route.value,
        model=call.model,
        provider=admission.target.provider if admission else "",
        status_code=status,
        tokens=tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=cost_calculate(tokens=tokens, price=admission.price if admission else None),
        reserved_usd=admission.reserved_usd if admission else 0,  # type: ignore[arg-type]
        latency_ms=int((time.perf_counter() - call.started) * 1000),
        streamed=call.streamed,
        error_code=error_code,
    )


def _after_write(entries: list[UsageEntry], tpm_limited: set[Any]) -> None:
    """Per-key bookkeeping once rows are safe: tokens per minute, and last use (at most once an L1 period)."""
    for key_id in {entry.key_id for entry in entries}:
        if cache_peek("touch", key_id) is MISSING:
            l1().set(("touch", str(key_id)), True)
            key_touch(key_id=key_id)
    for entry in entries:
        if entry.key_id in tpm_limited:
            tokens = entry.tokens
            tpm_add(key_id=entry.key_id, tokens=tokens.input_tokens + tokens.output_tokens + tokens.cache_read_tokens)


def _write_batch(entries: list[UsageEntry], tpm_limited: set[Any]) -> None:
    try:
        usage_record_many(entries=entries)
    except Exception:
        # One bad row must not cost the others theirs: write them one by one.
        log.warning("a batch of %d usage rows failed; writing them singly", len(entries), exc_info=True)
        for entry in entries:
            _write_one(entry)
    _after_write(entries, tpm_limited)


def _write_one(entry: UsageEntry) -> None:
    try:
        usage_record(entry=entry)
    except Exception:
        # Never lose silently: the row's id and numbers go to the log for reconciliation.
        log.exception("usage row %s could not be written: %r", entry.request_id, entry)


class UsageWriter:
    """Writes usage rows in batches: whatever accumulated while the previous write ran.

    Under load one transaction carries many rows (SQLite commits, PostgreSQL round trips);
    at low load a batch is a single row written at once. Lives on one event loop; the
    writing task is owned by the process, so `accounting_drain` waits for it.
    """

    def __init__(self) -> None:
        self.queue: list[UsageEntry] = []
        self.tpm_limited: set[Any] = set()
        self.running = False

    def put(self, entry: UsageEntry, tpm_limited: bool) -> None:
        self.queue.append(entry)
        if tpm_limited:
            self.tpm_limited.add(entry.key_id)
        if not self.running:
            self.running = True
            spawn(self._run())

    async def _run(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[:_MAX_BATCH], self.queue[_MAX_BATCH:]
                await in_pool(_write_batch, batch, set(self.tpm_limited))
        except Exception:
            log.exception("the usage writer failed")
        finally:
            self.running = False
            if self.queue:  # arrived after the loop ended, or left by a failure: carry on
                self.running = True
                spawn(self._run())


@functools.cache
def usage_writer(loop: asyncio.AbstractEventLoop) -> UsageWriter:
    return UsageWriter()


def call_finished(call: CallRecord, *, status: int, usage: Usage | None = None, error_code: str = "") -> None:
    """Schedules the usage row and budget settlement for a finished (or refused) call."""
    entry = _entry(call, status, usage or Usage(), error_code)
    usage_writer(asyncio.get_running_loop()).put(entry, tpm_limited=call.principal.key.tpm_limit is not None)
    metrics_call_finished(call=entry)
    log_call_finished(call=entry, user_id=call.principal.account.user_id)
