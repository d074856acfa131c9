"""The Redis-backed cache and channel layer settings, and a cache backend that rides out a Redis outage."""

import functools
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted

log = logging.getLogger(__name__)
# Seconds Redis is skipped after a failure before one request tries it again.
OUTAGE_PAUSE = 5.0


class RedisBreaker:
    """Whether Redis is down, shared by every cache object of one location (Django makes one per thread).

    After a failure Redis is skipped for OUTAGE_PAUSE seconds, so an outage costs one timeout per
    pause rather than one per request, and it is logged once when it starts and once when it ends.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    def skipping(self) -> bool:
        with self._lock:
            return self._down and time.monotonic() < self._retry_at

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + OUTAGE_PAUSE
            if self._down:
                return
            self._down = True
        # No traceback: the cause is in one line, and the requests carry on from the database.
        log.warning(
            "Redis cache unreachable (%s); using the database until it is back", type(error.__cause__ or error).__name__
        )

    def succeeded(self) -> None:
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                log.info("Redis cache reachable again")


@functools.cache
def redis_breaker(location: str) -> RedisBreaker:
    return RedisBreaker(location)


class _GuardedClient:
    """django-redis's client, with every call going through the breaker of its location."""

    def __init__(self, client: Any, breaker: RedisBreaker) -> None:
        self._client = client
        self._breaker = breaker

    @property
    def unguarded(self) -> Any:
        """The client itself, for callers that consult the breaker on their own (proxy.ratelimit)."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return functools.partial(self._call, attribute)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._breaker.skipping():
            raise ConnectionInterrupted(connection=None)  # the cache answers "miss", without a network call
        try:
            result = method(*args, **kwargs)
        except ConnectionInterrupted as error:
            self._breaker.failed(error)
            raise
        self._breaker.succeeded()
        return result


class GuardedRedisCache(RedisCache):
    """django-redis with IGNORE_EXCEPTIONS, minus its traceback per failed call, plus the breaker."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._log_ignored_exceptions = False  # RedisBreaker logs an outage once instead

    @property
    def client(self) -> Any:
        guarded: Any = self.__dict__.get("_guarded")
        if guarded is None:
            raw = self._client_cls(self._server, self._params, self)  # type: ignore[has-type]
            guarded = self.__dict__["_guarded"] = _GuardedClient(raw, redis_breaker(str(self._server)))
        return guarded


def redis_cache_configured() -> bool:
    """Whether the default cache is Redis (django-redis, guarded or not)."""
    from django.core.cache import caches

    return isinstance(caches["default"], RedisCache)


def redis_raw_client() -> Any:
    """The default cache's own redis client (same socket timeouts), past the breaker: for callers
    that must ask Redis itself (readiness) or consult the breaker on their own (rate limits)."""
    from django.core.cache import caches

    client = caches["default"].client  # type: ignore[attr-defined]
    return getattr(client, "unguarded", client).get_client(write=True)


@functools.cache
def _registered(client: Any, source: str) -> Any:
    return client.register_script(source)


def redis_script_run(source: str, *, keys: list[str], args: list[Any]) -> Any:
    """Runs a Lua script on the default cache's Redis through its breaker: raises at once while Redis
    is known to be down, and a failure counts towards the outage (logged once, by the breaker)."""
    from django.conf import settings

    breaker = redis_breaker(str(settings.CACHES["default"]["LOCATION"]))
    if breaker.skipping():
        raise ConnectionError("Redis is known to be down")
    try:
        result = _registered(redis_raw_client(), source)(keys=keys, args=args)
    except Exception as exc:
        breaker.failed(exc)
        raise
    breaker.succeeded()
    return result


def redis_caches(url: str, *, key_prefix: str = "gw", sentinels: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
    """django-redis settings. With `sentinels`, `url`'s host is the name of the master Sentinel watches."""
    options: dict[str, Any] = {
        # Redis down must never hang a request: fail fast and fall back to the database.
        "SOCKET_CONNECT_TIMEOUT": 0.25,
        "SOCKET_TIMEOUT": 0.25,
        "IGNORE_EXCEPTIONS": True,
    }
    if sentinels:
        # django-redis's Sentinel factory, with its default client: every read and write goes to the master.
        # (Its SentinelClient would read from replicas, where an invalidated entry can linger for the lag.)
        options.update(
            CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
            SENTINELS=list(sentinels),
            SENTINEL_KWARGS={"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        )
    return {
        "default": {
            "BACKEND": "core.backends.GuardedRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": options,
        }
    }


def redis_channel_layers(url: str, *, sentinels: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
    host: Any = url
    if sentinels:
        parts = urllib.parse.urlsplit(url)
        host = {
            "master_name": parts.hostname,
            "sentinels": list(sentinels),
            "sentinel_kwargs": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
            "db": int(parts.path.strip("/") or 0),
            **({"password": urllib.parse.unquote(parts.password)} if parts.password else {}),
        }
    return {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [host]}}}


def redis_sentinels(value: Sequence[str]) -> list[tuple[str, int]]:
    """REDIS_SENTINELS ("host:port" items) as (host, port) pairs; a bad item fails loudly."""
    pairs = []
    for item in value:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_SENTINELS must be host:port items separated by commas, got {item!r}")
        pairs.append((host.strip("[]"), int(port)))
    return pairs
