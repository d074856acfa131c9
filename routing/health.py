"""Deployment health shared by every instance: failures in a window put a deployment in cooldown; rpm/tpm used.

In Redis (one atomic script per read or record, through the cache's breaker, as proxy.ratelimit
does), so a deployment that failed on one instance is skipped by all; without Redis the same
logic runs in process memory. With Redis unreachable health fails open: every deployment is
healthy and uncapped, since refusing calls would be worse than trying a provider.
"""

import contextlib
import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from django.conf import settings

from core.backends import redis_cache_configured, redis_raw_client, redis_script_run

_MINUTE = 60
_RECENT_ERRORS = 20
_ERRORS_TTL = 24 * 3600

# KEYS per deployment, in groups of 3: cooldown, rpm counter, tpm counter. Returns those three per deployment.
_READ = """
local out = {}
for i = 1, #KEYS, 3 do
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 2]) or '0')
end
return out
"""
# KEYS: failures, cooldown, errors list, rpm, tpm. ARGV: failed (1/0), threshold, window s, cooldown s,
# now ms, error text, tokens. Returns 1 when this failure started a cooldown.
_RECORD = """
redis.call('INCR', KEYS[4]); redis.call('EXPIRE', KEYS[4], 120)
if tonumber(ARGV[7]) > 0 then redis.call('INCRBY', KEYS[5], ARGV[7]); redis.call('EXPIRE', KEYS[5], 120) end
if ARGV[1] ~= '1' then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[5] .. ' ' .. ARGV[6]); redis.call('LTRIM', KEYS[3], 0, 19)
redis.call('EXPIRE', KEYS[3], 86400)
local fails = redis.call('INCR', KEYS[1])
if fails == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if fails >= tonumber(ARGV[2]) then
  local until_ms = tonumber(ARGV[5]) + tonumber(ARGV[4]) * 1000
  redis.call('SET', KEYS[2], until_ms, 'PX', tonumber(ARGV[4]) * 1000)
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class State:
    """What the router needs about one deployment now."""

    cooling_until: float  # epoch seconds; 0 when not cooling
    rpm_used: int
    tpm_used: int


HEALTHY = State(0.0, 0, 0)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:rt"


def _keys(deployment_id: str, now: float) -> dict[str, str]:
    minute, base = int(now // _MINUTE), f"{_prefix()}:{deployment_id}"
    return {
        "fails": f"{base}:fails",
        "cool": f"{base}:cool",
        "errors": f"{base}:errors",
        "rpm": f"{base}:rpm:{minute}",
        "tpm": f"{base}:tpm:{minute}",
    }


class _LocalHealth:
    """The scripts' logic for a process without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: TTLCache[str, Any] = TTLCache(maxsize=100_000, ttl=_ERRORS_TTL)

    def _live(self, key: str, now: float) -> Any:
        value, expires = self.values.get(key, (None, 0.0))
        return value if expires > now else None

    def read(self, keys: dict[str, str], now: float) -> State:
        with self.lock:
            cooling_until = float(self._live(keys["cool"], now) or 0)
            return State(cooling_until, self._live(keys["rpm"], now) or 0, self._live(keys["tpm"], now) or 0)

    def record(self, keys: dict[str, str], failed: bool, error: str, tokens: int, now: float) -> bool:
        with self.lock:
            self.values[keys["rpm"]] = ((self._live(keys["rpm"], now) or 0) + 1, now + 120)
            if tokens:
                self.values[keys["tpm"]] = ((self._live(keys["tpm"], now) or 0) + tokens, now + 120)
            if not failed:
                return False
            errors = [f"{int(now * 1000)} {error}", *(self._live(keys["errors"], now) or [])][:_RECENT_ERRORS]
            self.values[keys["errors"]] = (errors, now + _ERRORS_TTL)
            current = self.values.get(keys["fails"])
            fails, expires = (current[0] + 1, current[1]) if current and current[1] > now else (1, now + window())
            self.values[keys["fails"]] = (fails, expires)
            if fails < settings.ROUTING_FAILURES:
                return False
            until = now + settings.ROUTING_COOLDOWN
            self.values[keys["cool"]] = (until, until)
            self.values.pop(keys["fails"], None)
            return True

    def errors(self, keys: dict[str, str], now: float) -> list[str]:
        with self.lock:
            return list(self._live(keys["errors"], now) or [])


def window() -> int:
    return int(settings.ROUTING_FAILURE_WINDOW)


@functools.cache
def _local() -> _LocalHealth:
    return _LocalHealth()


def health_read(*, deployment_ids: Sequence[str]) -> dict[str, State]:
    """Cooldown and this minute's rpm/tpm of each deployment, in one round trip. Sync."""
    now = time.time()
    keyed = {deployment_id: _keys(deployment_id, now) for deployment_id in deployment_ids}
    if not redis_cache_configured():
        return {deployment_id: _local().read(keys, now) for deployment_id, keys in keyed.items()}
    flat = [key for keys in keyed.values() for key in (keys["cool"], keys["rpm"], keys["tpm"])]
    try:
        values = redis_script_run(_READ, keys=flat, args=[])
    except Exception:  # Redis down: fail open
        return {deployment_id: HEALTHY for deployment_id in deployment_ids}
    states = {}
    for index, deployment_id in enumerate(keyed):
        cool, rpm, tpm = values[index * 3 : index * 3 + 3]
        states[deployment_id] = State(int(cool) / 1000, int(rpm), int(tpm))
    return states


def health_record(*, deployment_id: str, failed: bool, error: str = "", tokens: int = 0) -> bool:
    """Counts one attempt (and its tokens) on a deployment; a failure may start its cooldown (True). Sync."""
    now = time.time()
    keys = _keys(deployment_id, now)
    if not redis_cache_configured():
        return _local().record(keys, failed, error, tokens, now)
    args = [
        "1" if failed else "0",
        settings.ROUTING_FAILURES,
        window(),
        settings.ROUTING_COOLDOWN,
        int(now * 1000),
        error[:64],
        max(tokens, 0),
    ]
    with contextlib.suppress(Exception):  # Redis down: health is not recorded
        return bool(
            redis_script_run(
                _RECORD, keys=[keys["fails"], keys["cool"], keys["errors"], keys["rpm"], keys["tpm"]], args=args
            )
        )
    return False


@dataclass(frozen=True)
class Health:
    """For operators (the admin): recent errors (epoch ms, what) and the end of a cooldown."""

    cooling_until: float
    recent_errors: list[tuple[float, str]]


def health_report(*, deployment_id: str) -> Health:
    """A deployment's cooldown and recent errors, as every instance sees them. Sync."""
    now = time.time()
    keys = _keys(deployment_id, now)
    state = health_read(deployment_ids=[deployment_id])[deployment_id]
    if redis_cache_configured():
        try:
            raw = [item.decode() for item in redis_raw_client().lrange(keys["errors"], 0, _RECENT_ERRORS - 1)]
        except Exception:
            raw = []
    else:
        raw = _local().errors(keys, now)
    errors = []
    for item in raw:
        stamp, _, what = item.partition(" ")
        with contextlib.suppress(ValueError):
            errors.append((int(stamp) / 1000, what))
    until = state.cooling_until if state.cooling_until > now else 0.0
    return Health(cooling_until=until, recent_errors=errors)
