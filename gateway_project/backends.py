"""The Redis-backed cache and channel layer settings, shared by settings.py and the test suite."""

from typing import Any


def redis_caches(url: str, *, key_prefix: str = "gw") -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {
                # Redis down must never hang a request: fail fast and fall back to the database.
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }


def redis_channel_layers(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [url]}}}
