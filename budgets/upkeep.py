"""Background upkeep in every worker: replay the spool when the database is back, release stale holds, prune usage.

The first two are safe to run on any number of instances at once: replays are idempotent by
request id, and a hold is released by one conditional delete. Usage retention (off by default)
runs in one instance at a time, the one holding usage.retention's lease.
"""

import asyncio
import contextlib
import logging
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.models import Account
from alerts.delivery import AlertDispatcher
from budgets.ledger import hold_release_stale
from budgets.spool import spool, spool_depth
from budgets.writer_state import writer_state
from core.pool import in_pool
from usage.retention import PruneBusy, PruneError, PruneStep, usage_prune

log = logging.getLogger(__name__)


def replay_spool() -> int:
    """Writes what the spool holds; marks the database up again once it answers and the spool is empty. Sync."""
    Account.objects.exists()  # a probe: raises while the database is still away
    written = spool().replay()
    if spool_depth() == 0:
        if writer_state().down_since is not None:
            log.info("the database takes writes again; the spool is empty")
        writer_state().up()
    if written:
        log.info("%d spooled usage rows written", written)
    return written


def checkpoint_wal() -> None:
    """SQLite: copies the write-ahead log into the database (PASSIVE: writers never wait for it). Sync."""
    connection = connections["default"]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def sweep_holds() -> int:
    """Releases holds older than GATEWAY_HOLD_TTL, unless rows for them may still wait in the spool."""
    if spool_depth():
        return 0  # their settlement may be among the spooled rows: replay first, or a hold is released twice over
    released = hold_release_stale(older_than=timedelta(seconds=settings.HOLD_TTL))
    if released:
        log.warning("%d stale budget holds released (their requests never settled)", released)
    return released


async def prune_usage() -> None:
    """Archives and deletes the usage rows older than GATEWAY_USAGE_RETENTION_DAYS, a short step at a time.

    Each step (an archive written, one delete transaction) runs in the shared pool, with a pause after
    every delete, so neither the event loop nor the hot path's writes wait behind a long transaction.
    """
    if await in_pool(spool_depth):
        return  # spooled rows may be older than the cutoff: replay them first, as the sweeper does
    folder = await in_pool(_archive_folder)
    before = timezone.now() - timedelta(days=settings.USAGE_RETENTION_DAYS)
    steps = usage_prune(before=before, archive_dir=folder, delete_batch=settings.USAGE_PRUNE_BATCH)
    archived = deleted = 0
    try:
        while (step := await in_pool(_next_step, steps)) is not None:
            archived += step.rows if step.kind == "archived" else 0
            deleted += step.rows if step.kind == "deleted" else 0
            if step.kind == "deleted":
                await asyncio.sleep(settings.USAGE_PRUNE_PAUSE_MS / 1000)
    except PruneBusy:
        return  # another instance is pruning
    except PruneError as exc:
        log.warning("usage retention stopped: %s", exc)
    finally:
        with contextlib.suppress(Exception):  # cancelled mid-step: the lease expires by itself
            await in_pool(steps.close)
    if deleted:
        kept = f"archived {archived} into {folder}" if folder else "not archived"
        log.info("usage retention: %d rows older than %s deleted (%s)", deleted, before.date(), kept)


def _archive_folder() -> Path | None:
    if not settings.USAGE_ARCHIVE_DIR:
        return None
    folder = Path(settings.USAGE_ARCHIVE_DIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _next_step(steps: Generator[PruneStep, None, None]) -> PruneStep | None:
    return next(steps, None)


class Upkeep:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.retention: asyncio.Task[None] | None = None
        self.failing = False
        self.alerts = AlertDispatcher()  # a task of its own: a slow webhook never delays the spool

    def ensure_started(self) -> None:
        self.alerts.ensure_started()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        if settings.USAGE_RETENTION_DAYS and (self.retention is None or self.retention.done()):
            self.retention = asyncio.get_running_loop().create_task(self._retain())

    async def stop(self) -> None:
        await self.alerts.stop()
        for task in (self.task, self.retention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _retain(self) -> None:
        """Usage retention every GATEWAY_USAGE_RETENTION_INTERVAL seconds (the first a minute after start-up)."""
        await asyncio.sleep(min(60, settings.USAGE_RETENTION_INTERVAL))
        while True:
            try:
                await prune_usage()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the next interval tries again
                log.warning("usage retention deferred: %s", type(exc).__name__)
            await asyncio.sleep(settings.USAGE_RETENTION_INTERVAL)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()  # once at start-up, then every SWEEP_INTERVAL
        while True:
            try:
                waiting = writer_state().down_since is not None or bool(await in_pool(spool_depth))
                if waiting:
                    await in_pool(replay_spool)
                else:
                    await in_pool(checkpoint_wal)
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + settings.SWEEP_INTERVAL
                    await in_pool(sweep_holds)
                self.failing = False  # the next outage is reported again
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is still down: try again later (said once an outage)
                if not self.failing:
                    log.warning("upkeep deferred while the database is away: %s", type(exc).__name__)
                self.failing = True
            await asyncio.sleep(settings.SPOOL_RETRY_SECONDS)
