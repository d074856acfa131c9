"""Per-key request and token limits per minute, counted in the shared cache (Redis in production).

Fixed one-minute windows. Admission runs ONE atomic script: count the request against the
rpm limit, and reserve the request's token estimate against the tpm limit only if it fits,
so concurrent requests on every instance see each other's reservations (a check-then-add
let 100 of 100 concurrent requests past a 100-tpm limit). Settlement trues the reservation
up to the real count in the window it was made in. Without Redis the same logic runs in
process memory under a lock. When Redis is unreachable the limits fail open: availability
beats a counter.
"""

import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass

from cachetools import TTLCache
from django.conf import settings

from core.backends import redis_cache_configured, redis_script_run

log = logging.getLogger(__name__)
_WINDOW = 60

# KEYS: rpm counter, tpm counter. ARGV: rpm limit (0 = none), tpm limit (0 = none), tokens, ttl.
# Returns {admitted (1/0), rpm count, tpm used}.
_ADMIT = """
local rpm = 0
if tonumber(ARGV[1]) > 0 then
  rpm = redis.call('INCR', KEYS[1])
  if rpm == 1 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
  if rpm > tonumber(ARGV[1]) then return {0, rpm, 0} end
end
local used = 0
if tonumber(ARGV[2]) > 0 then
  used = tonumber(redis.call('GET', KEYS[2]) or '0')
  -- The first request of a window always passes (its estimate alone may exceed a small limit).
  if used >= tonumber(ARGV[2]) or (used > 0 and used + tonumber(ARGV[3]) > tonumber(ARGV[2])) then
    return {0, rpm, used}
  end
  used = redis.call('INCRBY', KEYS[2], ARGV[3])
  if used == tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
end
return {1, rpm, used}
"""
# KEYS: tpm counter. ARGV: delta. Adjusts only a window that still exists.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class Reservation:
    """What admission counted: the tpm window's key and the tokens reserved in it (0 for no tpm limit)."""

    tpm_key: str
    tokens: int
    retry_after: int | None = None


def _keys(key_id: object, now: float) -> tuple[str, str]:
    window = int(now // _WINDOW)
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:rl"
    return f"{prefix}:rpm:{key_id}:{window}", f"{prefix}:tpm:{key_id}:{window}"


def _retry_after(now: float) -> int:
    return max(1, int(_WINDOW - now % _WINDOW))


class _LocalCounters:
    """The scripts' logic for a process without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: TTLCache[str, int] = TTLCache(maxsize=100_000, ttl=_WINDOW * 2)

    def admit(self, rpm_key: str, tpm_key: str, rpm: int, tpm: int, tokens: int) -> bool:
        with self.lock:
            if rpm:
                self.counts[rpm_key] = self.counts.get(rpm_key, 0) + 1
                if self.counts[rpm_key] > rpm:
                    return False
            if tpm:
                used = self.counts.get(tpm_key, 0)
                if used >= tpm or (used and used + tokens > tpm):
                    return False
                self.counts[tpm_key] = used + tokens
            return True

    def settle(self, tpm_key: str, delta: int) -> None:
        with self.lock:
            if tpm_key in self.counts:
                self.counts[tpm_key] += delta


@functools.cache
def _local() -> _LocalCounters:
    return _LocalCounters()


def limits_admit(*, key_id: object, rpm: int | None, tpm: int | None, tokens: int) -> Reservation:
    """Counts one request and reserves `tokens`; `retry_after` is set when either limit refuses it."""
    now = time.time()
    rpm_key, tpm_key = _keys(key_id, now)
    tokens = max(tokens, 1) if tpm else 0
    if redis_cache_configured():
        try:
            admitted = bool(
                redis_script_run(_ADMIT, keys=[rpm_key, tpm_key], args=[rpm or 0, tpm or 0, tokens, _WINDOW * 2])[0]
            )
        except Exception:  # Redis down: fail open
            return Reservation(tpm_key="", tokens=0)
    else:
        admitted = _local().admit(rpm_key, tpm_key, rpm or 0, tpm or 0, tokens)
    if not admitted:
        return Reservation(tpm_key=tpm_key, tokens=0, retry_after=_retry_after(now))
    return Reservation(tpm_key=tpm_key if tpm else "", tokens=tokens)


def limits_settle(*, reservation: Reservation, tokens: int) -> None:
    """Trues the reservation up to the tokens the call really used (in the window it was made in)."""
    delta = tokens - reservation.tokens
    if not delta or not reservation.tpm_key:
        return
    if not redis_cache_configured():
        _local().settle(reservation.tpm_key, delta)
        return
    with contextlib.suppress(Exception):  # Redis down: the window's count stays an estimate
        redis_script_run(_SETTLE, keys=[reservation.tpm_key], args=[delta])
