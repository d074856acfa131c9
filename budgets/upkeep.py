"""Background upkeep in every worker: replay the spool when the database is back, release stale holds.

Both are safe to run on any number of instances at once: replays are idempotent by request
id, and a hold is released by one conditional delete.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connections

from accounts.models import Account
from budgets.ledger import hold_release_stale
from budgets.spool import spool, spool_depth
from budgets.writer_state import writer_state
from core.pool import in_pool

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


class Upkeep:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.failing = False

    def ensure_started(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

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
