"""Two-level cache for the hot path: process memory (L1), then Django's cache (L2, Redis).

Writes call `cache_invalidate` after commit; it drops the entry here and in L2 and
publishes the invalidation on the Channels layer so every other instance drops its
L1 copy too. L1 entries also expire after `L1_CACHE_TTL` seconds, which bounds the
staleness if an invalidation message is lost (the pub/sub layer is fire-and-forget).
"""

import functools
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from cachetools import TTLCache
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache as l2

from core.metrics import metrics_cache

log = logging.getLogger(__name__)
T = TypeVar("T")
INVALIDATION_GROUP = "gateway-cache-invalidate"
MISSING = object()  # "not cached", as opposed to a cached None (an unknown key or model)


class _L1:
    """A thread-safe TTL map: views read it on the event loop, services write it from threads."""

    def __init__(self, ttl: int) -> None:
        self._lock = threading.Lock()
        self._data: TTLCache[tuple[str, str], Any] = TTLCache(maxsize=100_000, ttl=max(ttl, 1))
        self.enabled = ttl > 0

    def get(self, key: tuple[str, str]) -> Any:
        with self._lock:
            return self._data.get(key, MISSING)

    def set(self, key: tuple[str, str], value: Any) -> None:
        if self.enabled:
            with self._lock:
                self._data[key] = value

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@functools.cache
def l1() -> _L1:
    return _L1(settings.L1_CACHE_TTL)


def _l2_key(namespace: str, key: Hashable) -> str:
    return f"{namespace}:{key}"


def cache_get_or_load(namespace: str, key: Hashable, loader: Callable[[], T]) -> T:
    """L1, then L2, then `loader()` (the database); fills the levels it missed. Sync: call from a thread."""
    key = str(key)  # ObjectId, UUID and int keys alike; strings survive the channel layer
    value = l1().get((namespace, key))
    if value is not MISSING:
        metrics_cache(namespace=namespace, result="l1")
        return value  # type: ignore[no-any-return]
    value = l2.get(_l2_key(namespace, key), MISSING)
    metrics_cache(namespace=namespace, result="miss" if value is MISSING else "l2")
    if value is MISSING:
        value = loader()
        l2.set(_l2_key(namespace, key), value, timeout=max(settings.L1_CACHE_TTL * 10, 60))
    l1().set((namespace, key), value)
    return value  # type: ignore[no-any-return]


def cache_peek(namespace: str, key: Hashable) -> Any:
    """The L1 value, or MISSING: lets async code skip a thread hop when the entry is warm."""
    value = l1().get((namespace, str(key)))
    if value is not MISSING:  # a miss is counted by the cache_get_or_load that follows it
        metrics_cache(namespace=namespace, result="l1")
    return value


def cache_invalidate(namespace: str, key: Hashable) -> None:
    """Drops the entry everywhere. Called from services through `transaction.on_commit`."""
    key = str(key)
    l1().drop((namespace, key))
    l2.delete(_l2_key(namespace, key))
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "cache.invalidate", "namespace": namespace, "key": key}
    try:
        async_to_sync(layer.group_send)(INVALIDATION_GROUP, message)
    except Exception:
        log.warning("cache invalidation for %s could not be published", namespace, exc_info=True)


def cache_invalidate_many(namespace: str, keys: list[str]) -> None:
    """`cache_invalidate` for many keys (a price load): one L2 call and one message per 500 keys."""
    for key in keys:
        l1().drop((namespace, key))
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        l2.delete_many([_l2_key(namespace, key) for key in batch])
        layer = get_channel_layer()
        if layer is None:
            continue
        try:
            async_to_sync(layer.group_send)(
                INVALIDATION_GROUP, {"type": "cache.invalidate", "namespace": namespace, "keys": batch}
            )
        except Exception:
            log.warning("cache invalidation for %s could not be published", namespace, exc_info=True)


def apply_invalidation(message: dict[str, Any]) -> None:
    """Applies an invalidation received from another instance (one key, or a list of them)."""
    namespace = str(message.get("namespace"))
    keys = message.get("keys")
    for key in keys if isinstance(keys, list) else [message.get("key")]:
        l1().drop((namespace, str(key)))
