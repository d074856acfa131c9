"""Two-level cache for the hot path (process memory, then Redis) whose values never outlive the cache window.

The cache window is `GATEWAY_L1_CACHE_TTL` (`settings.L1_CACHE_TTL`, 30 s by default). A value read
from the database at time t is served until t + window at the latest, from process memory (L1) or
from Redis (L2), on every instance, whatever Redis does: the deadline travels with the value. L2
keeps each value with the time it was loaded, and an L1 copy filled from L2 gets only what is left
of that load's window. Redis restarted with its append-only file, a delete that failed while it
was down, or a flapping connection can leave an old entry in Redis, never one served past its
deadline. So a change (a key revoked, an account deactivated, a price or route changed) holds on
every instance at most one window after its commit.

Invalidations make it faster, not safer: the writer drops its own copy at once and remembers when
(a *tombstone*, kept one window), so a copy loaded before that moment is neither kept nor taken
from Redis; it deletes the Redis entry and publishes the invalidation on the Channels layer so the
other instances do the same. Delivery is best effort (publish/subscribe is fire-and-forget; an
instance listening on a dead connection misses it): a failed publish is tried again at once (the
first after a Redis restart meets a dead pooled connection), then in the background while it can
still matter (`InvalidationOutbox`). The window is the bound; delivery only makes it sooner.

While the database cannot be read, a value past its deadline is still served from this process's
memory (for at most STALE_WINDOWS windows after its load) instead of refusing every call, and only
one load at a time waits on the database until it answers again (`_DatabaseBreaker`). A value an
invalidation dropped is gone, so never served so; the one exception is documented in
docs/guarantees.md ("Revocation and caching").
"""

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache as l2
from django.db import DatabaseError, InterfaceError, OperationalError

from core.backends import redis_cache_configured
from core.metrics import metrics_cache

log = logging.getLogger(__name__)
T = TypeVar("T")
Slot = tuple[str, str]  # (namespace, key)
INVALIDATION_GROUP = "gateway-cache-invalidate"
MISSING = object()  # "not cached", as opposed to a cached None (an unknown key or model)
MAX_ENTRIES = 100_000
# How long past its load a value may stand in for the database while the database cannot be read
# (in windows: 10, i.e. 300 s by default, the lifetime Redis entries used to have).
STALE_WINDOWS = 10
STALE_RETRY = 1.0  # seconds a stale value is served from memory before the database is tried again
DATABASE_PAUSE = 2.0  # seconds between attempts to reach a database that failed to connect (_DatabaseBreaker)
BATCH = 500  # keys per Redis delete and per message
PUBLISH_TIMEOUT = 1.0  # seconds one publish may take (a Redis that does not answer must not hold a write)
_NOTHING = (0.0, MISSING, 0.0)  # what L1 holds for a key it does not hold: expired, no value


class _L1:
    """Process memory: (namespace, key) → (monotonic deadline, value, monotonic end of stale use).

    Reads take no lock (one dict lookup and one float comparison: the hot path). Writes take one,
    for the size bound and the tombstones: views read on the event loop, loaders write from threads.
    """

    def __init__(self, window: int) -> None:
        self.window = float(window)
        self.enabled = window > 0
        self._lock = threading.Lock()
        self._data: dict[Slot, tuple[float, Any, float]] = {}
        self._dropped: dict[Slot, float] = {}  # wall-clock time each slot was last invalidated here

    def get(self, slot: Slot) -> Any:
        entry = self._data.get(slot, _NOTHING)
        return entry[1] if entry[0] > time.monotonic() else MISSING

    def set(self, slot: Slot, value: Any, *, loaded_at: float | None = None) -> bool:
        """Keeps `value`, read from the database at wall-clock `loaded_at` (default now), until that
        load's window ends. False (not kept) when it has ended, or when the slot was invalidated here
        at or after the load: the value may predate the change."""
        now = time.time()
        loaded_at = now if loaded_at is None else loaded_at
        # Clamped to one window: a loader whose clock runs ahead cannot lengthen it.
        left = min(loaded_at + self.window - now, self.window)
        if not self.enabled or left <= 0:
            return False
        monotonic = time.monotonic()
        stale_end = monotonic + left + (STALE_WINDOWS - 1) * self.window
        with self._lock:  # the tombstone is read under the lock `drop` writes it under: no drop slips between
            if self._dropped.get(slot, -math.inf) >= loaded_at:
                return False
            if len(self._data) >= MAX_ENTRIES:
                self._make_room(monotonic)
            self._data[slot] = (monotonic + left, value, stale_end)
        return True

    def stale(self, slot: Slot) -> Any:
        """A value past its deadline that may still stand in for an unreadable database, or MISSING.
        It is then served from memory for STALE_RETRY seconds before the database is tried again."""
        deadline, value, stale_end = self._data.get(slot, _NOTHING)
        monotonic = time.monotonic()
        if value is MISSING or stale_end <= monotonic:
            return MISSING
        with self._lock:
            if self._data.get(slot, _NOTHING)[1] is value:  # not dropped meanwhile
                self._data[slot] = (max(deadline, min(monotonic + STALE_RETRY, stale_end)), value, stale_end)
        return value

    def drop(self, slot: Slot) -> None:
        """Forgets the slot, and for one window refuses copies loaded before this moment (a tombstone)."""
        now = time.time()
        with self._lock:
            self._data.pop(slot, None)
            self._dropped[slot] = now
            if len(self._dropped) > 1024:
                self._dropped = {s: at for s, at in self._dropped.items() if at > now - self.window}

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._dropped.clear()

    def _make_room(self, monotonic: float) -> None:
        self._data = {slot: entry for slot, entry in self._data.items() if entry[0] > monotonic}
        while len(self._data) >= MAX_ENTRIES:
            del self._data[next(iter(self._data))]  # the oldest write first


@functools.cache
def l1() -> _L1:
    return _L1(settings.L1_CACHE_TTL)


class _DatabaseBreaker:
    """Whether loaders should try the database: after a connection failure, one load at a time tries
    it again every DATABASE_PAUSE seconds, while the others answer from stale copies (or fail) at once.

    Without it every expired entry's next load waited out the connection attempt (psycopg's pool
    waits 30 s for a connection) while the database was away.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False
        self._probing = False
        self._retry_at = 0.0

    def should_try(self) -> bool:
        with self._lock:
            if not self._down:
                return True
            if self._probing or time.monotonic() < self._retry_at:
                return False
            self._probing = True  # this load is the probe; the rest keep skipping until it is answered
            return True

    def answered(self, *, reachable: bool) -> None:
        with self._lock:
            self._down, self._probing = not reachable, False
            self._retry_at = time.monotonic() + DATABASE_PAUSE


@functools.cache
def database_breaker() -> _DatabaseBreaker:
    return _DatabaseBreaker()


def _l2_key(slot: Slot) -> str:
    # "c2": entries carry their load time since this format; older entries are never read as values.
    return f"c2:{slot[0]}:{slot[1]}"


def _l2_read(slot: Slot) -> tuple[Any, float] | None:
    """The value Redis holds and when it was loaded, if its window has not ended; else None."""
    shared = l2.get(_l2_key(slot), None)
    if not (isinstance(shared, tuple) and len(shared) == 2 and isinstance(shared[1], float)):
        return None
    return shared if shared[1] + l1().window > time.time() else None


def _l2_write(slot: Slot, value: Any, loaded_at: float) -> None:
    # Redis forgets it just after its deadline; the deadline itself is checked on every read.
    l2.set(_l2_key(slot), (value, loaded_at), timeout=max(1, math.ceil(loaded_at + l1().window - time.time()) + 1))


def _l2_delete(namespace: str, keys: list[str]) -> bool:
    """Whether Redis was reached: django-redis answers a count when it was, None for a connection error
    it swallowed (IGNORE_EXCEPTIONS). Django's other caches answer None either way: no Redis to miss."""
    answer = l2.delete_many([_l2_key((namespace, key)) for key in keys])  # type: ignore[func-returns-value]
    return answer is not None or not redis_cache_configured()


def cache_get_or_load(namespace: str, key: Hashable, loader: Callable[[], T]) -> T:
    """L1, then L2, then `loader()` (the database); fills the levels it missed. Sync: call from a thread."""
    slot = (namespace, str(key))  # ObjectId, UUID and int keys alike; strings survive the channel layer
    memory = l1()
    value = memory.get(slot)
    if value is not MISSING:
        metrics_cache(namespace=namespace, result="l1")
        return value  # type: ignore[no-any-return]
    if not memory.enabled:  # a window of 0: nothing is cached, every call reads the database
        return loader()
    shared = _l2_read(slot)
    if shared is not None and memory.set(slot, shared[0], loaded_at=shared[1]):
        metrics_cache(namespace=namespace, result="l2")
        return shared[0]  # type: ignore[no-any-return]
    metrics_cache(namespace=namespace, result="miss")
    loaded_at = time.time()  # before the read: the window counts from the oldest state it can return
    try:
        value = _load(loader)
    except DatabaseError:
        value = memory.stale(slot)
        if value is MISSING:
            raise
        metrics_cache(namespace=namespace, result="stale")
        return value  # type: ignore[no-any-return]
    if memory.set(slot, value, loaded_at=loaded_at):
        _l2_write(slot, value, loaded_at)
    return value  # type: ignore[no-any-return]


def _load(loader: Callable[[], T]) -> T:
    """`loader()`, unless the database failed to connect moments ago: then a DatabaseError at once."""
    database = database_breaker()
    if not database.should_try():
        raise OperationalError("The database could not be reached moments ago.")
    reachable = True
    try:
        return loader()
    except (OperationalError, InterfaceError):  # the connection failed, not the query
        reachable = False
        raise
    finally:
        database.answered(reachable=reachable)


def cache_peek(namespace: str, key: Hashable) -> Any:
    """The L1 value, or MISSING: lets async code skip a thread hop when the entry is warm."""
    value = l1().get((namespace, str(key)))
    if value is not MISSING:  # a miss is counted by the cache_get_or_load that follows it
        metrics_cache(namespace=namespace, result="l1")
    return value


def cache_invalidate(namespace: str, key: Hashable) -> None:
    """Drops the entry here, in Redis and on every instance. Called from services through `transaction.on_commit`."""
    cache_invalidate_many(namespace, [str(key)])


def cache_invalidate_many(namespace: str, keys: list[str]) -> None:
    """`cache_invalidate` for many keys (a price load): one Redis call and one message per BATCH keys.

    What does not reach Redis is retried in the background (`InvalidationOutbox`); it never fails the
    write, which has committed already: the cache window bounds what a lost invalidation can cost.
    """
    memory, outbox = l1(), invalidation_outbox()
    keys = [str(key) for key in keys]
    for key in keys:
        memory.drop((namespace, key))
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        deleted = _l2_delete(namespace, batch)  # while Redis is known to be down, the breaker answers at once
        # While publishing fails, no write waits on it: the outbox retries for them all.
        published = not outbox.failing() and _publish_now(namespace, batch)
        if not (deleted and published):
            outbox.add(namespace, batch, delete=not deleted, publish=not published)


def _message(namespace: str, keys: list[str]) -> dict[str, Any]:
    # One key as `key`, which instances of every version read; several as `keys`.
    if len(keys) == 1:
        return {"type": "cache.invalidate", "namespace": namespace, "key": keys[0]}
    return {"type": "cache.invalidate", "namespace": namespace, "keys": keys}


async def _publish(layer: Any, namespace: str, keys: list[str]) -> bool:
    try:
        await asyncio.wait_for(layer.group_send(INVALIDATION_GROUP, _message(namespace, keys)), PUBLISH_TIMEOUT)
    except Exception as exc:
        log.debug("publishing a cache invalidation failed: %s", type(exc).__name__)
        return False
    return True


def _publish_now(namespace: str, keys: list[str]) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return True
    # Twice: after a Redis restart the first publish meets the pool's dead connection, which it then drops.
    return any(async_to_sync(_publish)(layer, namespace, keys) for _ in range(2))


def apply_invalidation(message: dict[str, Any]) -> None:
    """Applies an invalidation received from another instance, or published by this one (one key, or a list)."""
    namespace, keys = str(message.get("namespace")), message.get("keys")
    for key in keys if isinstance(keys, list) else [message.get("key")]:
        l1().drop((namespace, str(key)))


class InvalidationOutbox:
    """Invalidations that did not reach Redis: the entry to delete there, the message to publish.

    Retried by `outbox_retry` (the server's invalidation listener runs it) until they get through or
    their window has passed, after which every copy they were about has expired anyway.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Slot, tuple[float, bool, bool]] = {}  # slot: (monotonic since, delete, publish)
        self._failed_at = -math.inf

    def failing(self) -> bool:
        """Whether Redis failed an invalidation in the last second: then writes do not wait on it."""
        return time.monotonic() - self._failed_at < 1.0

    def add(self, namespace: str, keys: list[str], *, delete: bool, publish: bool) -> None:
        now = time.monotonic()
        with self._lock:
            first = not self._pending
            for key in keys:
                since, was_delete, was_publish = self._pending.get((namespace, key), (now, False, False))
                self._pending[(namespace, key)] = (since, delete or was_delete, publish or was_publish)
            self._failed_at = now
        if first:
            log.warning(
                "cache invalidations are not reaching Redis; retrying in the background (every instance "
                "drops the entries within the %.0f s cache window at most)",
                l1().window,
            )

    def due(self) -> dict[Slot, tuple[float, bool, bool]]:
        """What is still worth retrying; what has outlived its window is given up on (and logged)."""
        cutoff = time.monotonic() - l1().window
        with self._lock:
            moot = [slot for slot, (since, _, _) in self._pending.items() if since < cutoff]
            for slot in moot:
                del self._pending[slot]
            pending = dict(self._pending)
        if moot:
            log.error(
                "%d cache invalidation(s) could not reach Redis within the %.0f s cache window; every instance "
                "has dropped those entries by their deadline instead",
                len(moot),
                l1().window,
            )
        return pending

    def settle(self, namespace: str, keys: list[str], *, deleted: bool, published: bool) -> None:
        with self._lock:
            for key in keys:
                if (namespace, key) not in self._pending:
                    continue
                since, delete, publish = self._pending.pop((namespace, key))
                delete, publish = delete and not deleted, publish and not published
                if delete or publish:
                    self._pending[(namespace, key)] = (since, delete, publish)
                    self._failed_at = time.monotonic()
            emptied = not self._pending and deleted and published
        if emptied:
            log.info("cache invalidations reach Redis again")


@functools.cache
def invalidation_outbox() -> InvalidationOutbox:
    return InvalidationOutbox()


async def outbox_retry(run: Callable[..., Any]) -> None:
    """Sends what the outbox holds once; `run` runs blocking cache calls off the loop (core.pool.in_pool)."""
    outbox = invalidation_outbox()
    layer = get_channel_layer()
    wanted: dict[tuple[str, bool, bool], list[str]] = {}  # (namespace, delete, publish): keys
    for (namespace, key), (_, delete, publish) in outbox.due().items():
        wanted.setdefault((namespace, delete, publish), []).append(key)
    for (namespace, delete, publish), keys in wanted.items():
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            deleted = not delete or bool(await run(_l2_delete, namespace, batch))
            published = not publish or layer is None or await _publish(layer, namespace, batch)
            outbox.settle(namespace, batch, deleted=deleted, published=published)
            if not (deleted and published):
                return  # Redis is still away: the rest waits for the next round
