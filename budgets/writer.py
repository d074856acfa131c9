"""The usage writer: each worker's rows and their settlements, written in batches after the answers.

Rows are journaled (budgets.spool) before the answer goes out, queued here, and written in
one ledger transaction per batch with their settlements (budgets.ledger.usage_book_many).
A batch the database cannot take goes to the durable spool and is replayed when it is back;
one bad row is written apart so it never costs the others theirs. Budget leases are released
behind their calls' rows (budgets.leases).
"""

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings

from budgets.ledger import hold_release, leases_release, usage_book_many
from budgets.spool import REFUSED, Segment, journal, spool
from budgets.writer_state import writer_state
from core.cache import MISSING, cache_peek, l1
from core.pool import in_writer
from core.tasks import Batcher
from keys.services import key_touch
from usage.services import UsageEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """A row to write, and what to do once it is safe (written or spooled): the proxy's tpm true-up."""

    entry: UsageEntry
    after: Callable[[UsageEntry], None] | None = None


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
        if item.after is not None:
            item.after(item.entry)


def write_batch(batch: list[Written], leases: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
    """Writes rows and settlements in one transaction; the spool takes whatever the database does not.

    Then releases the budget leases whose calls' rows were queued before (budgets.leases); returns
    those it could not release, to try again with a later batch.
    """
    entries = [item.entry for item in batch]
    try:
        if entries:
            usage_book_many(entries=entries)
    except REFUSED:
        # One bad row must not cost the others theirs, nor mark a database that answers as down.
        log.warning("a batch of %d usage rows failed; writing them singly", len(entries))
        for entry in entries:
            _write_single(entry)
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


def _write_single(entry: UsageEntry) -> None:
    """One row of a batch the database refused: written alone, or kept for an operator with its hold released."""
    try:
        usage_book_many(entries=[entry], idempotent=True)
    except REFUSED:
        spool().bury(entry)
        try:
            hold_release(hold_id=entry.request_id)  # its budget hold is not left for the sweeper
        except Exception:
            log.warning("could not release the hold of refused usage row %s", entry.request_id)
    except Exception:
        spool().append([entry])


def _spool_batch(batch: list[Written], leases: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
    if batch:
        spool().append([item.entry for item in batch])
    _after_write(batch)
    return list(leases)


class UsageWriter(Batcher[Written]):
    """Writes usage rows in batches (core.tasks.Batcher): the whole queue each time.

    Under load one transaction carries many rows (SQLite commits, PostgreSQL round trips);
    at low load a short batch waits GATEWAY_USAGE_LINGER_MS for more. The writing task is owned by the
    process, so `accounting_drain` waits for it. Budget leases to release (budgets.leases) go
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

    # A short batch waits GATEWAY_USAGE_LINGER_MS for more rows (they are in the journal already): at
    # one connection each call's row was a transaction of its own, most of the call's CPU. Eight, not
    # more: a longer batch is a longer burst of the writer's Python, which calls then wait out (p99).
    linger_items = 8

    def linger(self) -> float:
        return float(settings.USAGE_LINGER_MS) / 1000

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
