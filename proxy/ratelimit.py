"""Per-key request and token limits per minute, counted in the shared cache (Redis in production).

Fixed one-minute windows: one atomic INCR per request for a key with an rpm limit and
one read for a key with a tpm limit. Keys without limits cost nothing. When the
cache is unreachable the limits fail open: availability beats a counter.
"""

import time

from django.core.cache import cache

_WINDOW = 60


def _window_key(kind: str, key_id: object, now: float) -> str:
    return f"rl:{kind}:{key_id}:{int(now // _WINDOW)}"


def _retry_after(now: float) -> int:
    return max(1, int(_WINDOW - now % _WINDOW))


def rpm_consume(*, key_id: object, limit: int) -> int | None:
    """Counts one request; returns seconds to wait if it is over `limit`, else None."""
    now = time.time()
    count = _bump(_window_key("rpm", key_id, now), 1)
    if count is not None and count > limit:
        return _retry_after(now)
    return None


def tpm_check(*, key_id: object, limit: int) -> int | None:
    """Seconds to wait if this minute's tokens already reached `limit`, else None."""
    now = time.time()
    used = cache.get(_window_key("tpm", key_id, now)) or 0
    return _retry_after(now) if used >= limit else None


def tpm_add(*, key_id: object, tokens: int) -> None:
    if tokens <= 0:
        return
    _bump(_window_key("tpm", key_id, time.time()), tokens)


def _bump(counter: str, amount: int) -> int | None:
    """Adds `amount` to this window's counter, creating it with the window's lifetime; None if unknown."""
    cache.add(counter, 0, timeout=_WINDOW * 2)
    try:
        return cache.incr(counter, amount)  # type: ignore[no-any-return]
    except ValueError:  # expired between add and incr, or the cache is down
        return None
