"""Receives cache invalidations from every instance over the Channels layer; retries those this one could not send."""

import asyncio
import contextlib
import logging

from channels.layers import get_channel_layer

from core.cache import INVALIDATION_GROUP, apply_invalidation, outbox_retry
from core.pool import in_pool

log = logging.getLogger(__name__)
# channels_redis forgets group members after a day; re-joining hourly keeps us subscribed.
_REJOIN_SECONDS = 3600
# How often invalidations that did not reach Redis are tried again (core.cache.InvalidationOutbox).
RETRY_SECONDS = 0.5


class InvalidationListener:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.retry_task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        if self.task is None or self.task.done():
            layer = get_channel_layer()
            if layer is not None:
                self.task = asyncio.get_running_loop().create_task(self._run(layer))
        if self.retry_task is None or self.retry_task.done():
            self.retry_task = asyncio.get_running_loop().create_task(self._retry())

    async def stop(self) -> None:
        for task in (self.task, self.retry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self, layer: object) -> None:
        while True:
            try:
                await self._listen(layer)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis gone: entries still expire by their deadline; try again shortly.
                log.warning("invalidation listener lost its channel layer; retrying", exc_info=True)
                await asyncio.sleep(1)

    async def _retry(self) -> None:
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await outbox_retry(in_pool)
            except Exception:
                log.warning("retrying cache invalidations failed", exc_info=True)

    async def _listen(self, layer: object) -> None:
        channel = await layer.new_channel()  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        joined: float | None = None
        while True:
            if joined is None or loop.time() - joined > _REJOIN_SECONDS:
                await layer.group_add(INVALIDATION_GROUP, channel)  # type: ignore[attr-defined]
                joined = loop.time()
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=_REJOIN_SECONDS)  # type: ignore[attr-defined]
            except TimeoutError:
                continue
            apply_invalidation(message)
