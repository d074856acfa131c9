"""Receives cache invalidations from every instance over the Channels layer and applies them."""

import asyncio
import contextlib
import logging

from channels.layers import get_channel_layer

from core.cache import INVALIDATION_GROUP, apply_invalidation

log = logging.getLogger(__name__)
# channels_redis forgets group members after a day; re-joining hourly keeps us subscribed.
_REJOIN_SECONDS = 3600


class InvalidationListener:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        if self.task is None or self.task.done():
            layer = get_channel_layer()
            if layer is not None:
                self.task = asyncio.get_running_loop().create_task(self._run(layer))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self, layer: object) -> None:
        while True:
            try:
                await self._listen(layer)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis gone: entries still expire by TTL; try again shortly.
                log.warning("invalidation listener lost its channel layer; retrying", exc_info=True)
                await asyncio.sleep(1)

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
