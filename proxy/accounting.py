"""Accounting after a proxied call: price the usage, write the row, settle the budget — whatever happens.

Every admitted request ends in exactly one row and a released hold. The call itself and the
writes run in tasks the process owns, never in the request's own frame: a client that
disconnects cancels its request, and a write (or a hold) cancelled half-way was lost
(NOTES: measured). Rows are written in batches; a batch the database cannot take goes to the
durable spool (proxy.spool) and is replayed when it is back. At shutdown calls still running
after the grace period are ended as 503 and every pending row is written or spooled.
"""

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import DataError, IntegrityError
from django.utils import timezone

from accounts.services import leases_release
from gateway_project.cache import MISSING, cache_peek, l1
from gateway_project.logs import log_call_finished
from gateway_project.metrics import metrics_call_finished
from gateway_project.money import ZERO
from gateway_project.pool import in_writer
from keys.services import key_touch
from pricing.selectors import TokenCounts, cost_calculate
from proxy.admission import Admission
from proxy.auth import Principal
from proxy.forwarding import Route, Usage
from proxy.leases import lease_book
from proxy.ratelimit import limits_settle
from proxy.spool import Segment, journal, spool
from proxy.tasks import Batcher, calls_end, spawn, start_call, tasks_drain
from proxy.writer_state import writer_state
from usage.services import UsageEntry, usage_record_many

__all__ = ["CallRecord", "accounting_drain", "call_finished", "calls_end", "spawn", "start_call"]

log = logging.getLogger(__name__)


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
    client_gone: bool = False  # the client disconnected; the call goes on to learn its usage
    finished: bool = False
    attempt: int = 1  # routed calls (proxy.routed): the attempt now running, counted from 1
    upstream_model: str = ""  # routed calls: the model of the deployment the attempt went to


def _tokens(usage: Usage) -> TokenCounts:
    return TokenCounts(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )


def _entry(
    call: CallRecord, status: int, usage: Usage, error_code: str, request_id: uuid.UUID | None = None
) -> UsageEntry:
    admission = call.admission
    tokens = _tokens(usage)
    # The draw from a budget lease is settled by the call's own row, never by a routed attempt's.
    lease = admission.lease if admission and request_id is None else None
    return UsageEntry(
        request_id=request_id or call.request_id,
        account_id=call.principal.account.id,
        key_id=call.principal.key.id,
        route=call.route.value,
        model=call.model,
        provider=admission.target.provider if admission else "",
        status_code=status,
        tokens=tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=cost_calculate(tokens=tokens, price=admission.price if admission else None),
        latency_ms=int((time.perf_counter() - call.started) * 1000),
        streamed=call.streamed,
        error_code=error_code,
        created_at=timezone.now().isoformat(),
        attempt_of=str(call.request_id) if request_id else "",
        attempt=call.attempt,
        upstream_model=call.upstream_model,
        lease_id=str(lease.id) if lease else "",
        lease_draw_usd=admission.hold_usd if admission and lease else ZERO,
    )


@dataclass(frozen=True)
class Written:
    """A row to write, and what to do once it is safe: the tpm true-up."""

    entry: UsageEntry
    admission: Admission | None


def _after_write(batch: list[Written]) -> None:
    """Per-key bookkeeping once rows are safe: tokens per minute, and last use (at most once an L1 period)."""
    for key_id in {item.entry.key_id for item in batch}:
        if cache_peek("touch", key_id) is MISSING:
            l1().set(("touch", str(key_id)), True)
            try:
                key_touch(key_id=key_id)
            except Exception:
                log.warning("could not record the last use of key %s", key_id)
    for item in batch:
        limits = item.admission.limits if item.admission else None
        if limits is not None and limits.tpm_key:
            tokens = item.entry.tokens
            limits_settle(
                reservation=limits, tokens=tokens.input_tokens + tokens.output_tokens + tokens.cache_read_tokens
            )


def write_batch(batch: list[Written], leases: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
    """Writes rows and settlements in one transaction; the spool takes whatever the database does not.

    Then releases the budget leases whose calls' rows were queued before (proxy.leases); returns
    those it could not release, to try again with a later batch.
    """
    entries = [item.entry for item in batch]
    try:
        if entries:
            usage_record_many(entries=entries)
    except (IntegrityError, DataError):
        # One bad row must not cost the others theirs: write them one by one.
        log.warning("a batch of %d usage rows failed; writing them singly", len(entries))
        for entry in entries:
            try:
                usage_record_many(entries=[entry], idempotent=True)
            except Exception:
                spool().append([entry])
    except Exception:
        spool().append(entries)  # the database is unreachable or locked: nothing is lost
        writer_state().down()
        _after_write(batch)
        return list(leases)  # a lease's rows may be in the spool: released once the database is back
    _after_write(batch)
    if leases:
        try:
            leases_release(lease_ids=leases)
        except Exception:
            log.warning("could not release %d budget leases; trying again with the next batch", len(leases))
            return list(leases)
    return []


def _spool_batch(batch: list[Written], leases: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
    if batch:
        spool().append([item.entry for item in batch])
    _after_write(batch)
    return list(leases)


class UsageWriter(Batcher[Written]):
    """Writes usage rows in batches (proxy.tasks.Batcher): the whole queue each time.

    Under load one transaction carries many rows (SQLite commits, PostgreSQL round trips);
    at low load a batch is a single row written at once. The writing task is owned by the
    process, so `accounting_drain` waits for it. Budget leases to release (proxy.leases) go
    with the batch after their calls' rows, so a lease is never released before a row that
    draws from it is written; one the database could not take waits for the next batch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.leases: list[uuid.UUID] = []  # to release with the next batch
        self.leases_later: list[uuid.UUID] = []  # could not be released: tried with the next batch of rows

    def put(self, item: Written) -> None:
        journal().write(item.entry)  # on disk before the answer goes out: a killed worker loses no answered row
        self.add(item)

    def release_lease(self, lease_id: uuid.UUID) -> None:
        self.leases.append(lease_id)
        self.kick()

    def pending(self) -> bool:
        return bool(self.queue or self.leases)

    async def flush(self, batch: list[Written]) -> None:
        leases, self.leases = self.leases, []
        if batch:
            leases, self.leases_later = self.leases_later + leases, []
        # The whole queue, so the journal segment sealed with it holds exactly this batch.
        segment = journal().seal() if batch else None
        write = _spool_batch if writer_state().down_since is not None else write_batch
        self.leases_later += await in_writer(write, batch, leases)
        _done(segment)

    def spool_rest(self) -> None:
        """Shutdown past the drain deadline: whatever is still queued goes to the spool, synchronously."""
        if self.queue:
            batch, self.queue = self.queue, []
            spool().append([item.entry for item in batch])


def _done(segment: Segment | None) -> None:
    if segment is not None:
        segment.done()


@functools.cache
def usage_writer(loop: asyncio.AbstractEventLoop) -> UsageWriter:
    return UsageWriter()


def call_finished(call: CallRecord, *, status: int, usage: Usage | None = None, error_code: str = "") -> None:
    """Schedules the usage row and budget settlement for a finished (or refused) call; once per call."""
    if call.finished:
        return
    call.finished = True
    entry = _entry(call, status, usage or Usage(), error_code)
    loop = asyncio.get_running_loop()
    usage_writer(loop).put(Written(entry=entry, admission=call.admission))
    if call.admission is not None and call.admission.lease is not None:
        lease_book(loop).done(call.admission.lease)  # after the row: a lease is released behind its rows
    metrics_call_finished(call=entry)
    log_call_finished(call=entry, user_id=call.principal.account.user_id)


async def accounting_drain(timeout: float = 30.0) -> None:
    """Waits for calls in flight and every pending accounting write (shutdown, tests), then releases
    this worker's budget leases and waits for that too: afterwards `reserved_usd` holds no lease of ours."""
    await tasks_drain(timeout)
    lease_book(asyncio.get_running_loop()).close_all()
    await tasks_drain(timeout)


def attempt_finished(call: CallRecord, *, status: int, usage: Usage | None = None, error_code: str = "") -> uuid.UUID:
    """The row of a routed call's attempt that is not the answer (it failed and another was tried).

    A row of its own id, linked to the call's (`attempt_of`); it settles its cost without touching
    the hold, which the call's own row releases, and leaves the tpm true-up to that row too.
    """
    attempt_id = uuid.uuid4()
    entry = _entry(call, status, usage or Usage(), error_code, request_id=attempt_id)
    usage_writer(asyncio.get_running_loop()).put(Written(entry=entry, admission=None))
    return attempt_id
