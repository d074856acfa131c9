"""The two-level cache: invalidations reach every instance; a dead Redis never stops requests."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.cache import cache
from django.db import OperationalError

from core import cache as cache_module
from core.cache import apply_invalidation, cache_get_or_load, cache_invalidate, cache_invalidate_many, l1
from tests.gateway import redis_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.engine_independent  # Redis and a peer process only
def test_an_invalidation_reaches_another_instance_through_redis(redis_backed):
    peer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("invalidation_peer.py")), redis_backed],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout.readline().strip() == "ready"
        started = time.monotonic()
        cache_invalidate("key", "peer-entry")
        assert peer.stdout.readline().strip() == "dropped"
        assert time.monotonic() - started < 2
    finally:
        peer.kill()
        peer.wait()


def test_values_come_from_l1_then_l2_then_the_loader():
    calls = []
    assert cache_get_or_load("price", "m", lambda: calls.append(1) or "v1") == "v1"
    assert cache_get_or_load("price", "m", lambda: calls.append(1) or "v2") == "v1"
    l1().clear()  # a fresh instance: L2 (Redis) still has it
    assert cache_get_or_load("price", "m", lambda: calls.append(1) or "v3") == "v1"
    assert calls == [1]
    cache_invalidate("price", "m")
    assert cache_get_or_load("price", "m", lambda: "v4") == "v4"


def test_requests_keep_flowing_when_redis_is_unreachable(gateway, customer, upstream, settings):
    dead = redis_settings("redis://127.0.0.1:9/0")  # nothing listens on port 9
    settings.CACHES = dead["CACHES"]
    settings.CHANNEL_LAYERS = dead["CHANNEL_LAYERS"]
    started = time.monotonic()
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {customer.key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 5
    assert gateway.usage(response.headers["x-request-id"]).status_code == 200


def window() -> float:
    return l1().window


@pytest.mark.engine_independent
def test_a_copy_from_redis_keeps_only_what_is_left_of_its_window():
    loaded_at = time.time() - window() + 0.3  # another instance read the database almost a window ago
    cache.set("c2:price:m", ("from redis", loaded_at), timeout=300)
    assert cache_get_or_load("price", "m", lambda: "from the database") == "from redis"
    time.sleep(0.4)  # its window is over here too, though this instance copied it just now
    assert cache_get_or_load("price", "m", lambda: "from the database") == "from the database"


@pytest.mark.engine_independent
def test_an_entry_redis_kept_past_its_deadline_is_never_served():
    # What a restarted Redis with its append-only file, or a delete that failed, can leave behind.
    cache.set("c2:key:k", ("revoked long ago", time.time() - window() - 1), timeout=300)
    assert cache_get_or_load("key", "k", lambda: "from the database") == "from the database"


@pytest.mark.engine_independent
def test_an_entry_loaded_before_an_invalidation_is_not_taken_back_from_redis():
    assert cache_get_or_load("key", "k", lambda: "active") == "active"
    shared = cache.get("c2:key:k")
    cache_invalidate("key", "k")
    cache.set("c2:key:k", shared, timeout=300)  # as if the delete had not reached Redis
    assert cache_get_or_load("key", "k", lambda: "revoked") == "revoked"
    assert cache_get_or_load("key", "k", lambda: "reloaded") == "revoked"  # the fresh value is kept


@pytest.mark.engine_independent
def test_a_load_that_raced_an_invalidation_is_served_once_but_not_kept():
    def load_while_revoked() -> str:
        cache_invalidate("key", "k")  # the change commits while this load reads the old state
        return "active"

    assert cache_get_or_load("key", "k", load_while_revoked) == "active"
    assert cache.get("c2:key:k") is None
    assert cache_get_or_load("key", "k", lambda: "revoked") == "revoked"


@pytest.mark.engine_independent
def test_an_expired_value_stands_in_for_an_unreachable_database_until_it_is_invalidated():
    def unreachable() -> str:
        raise OperationalError("the database is away")

    # A key of its own: another test's invalidation of ("key", "k"), published through Redis, can reach this
    # process's listener after that test has ended and drop the value this one set.
    l1().set(("key", "stale"), "cached", loaded_at=time.time() - window() + 0.2)
    time.sleep(0.3)
    assert cache_get_or_load("key", "stale", unreachable) == "cached"
    cache_invalidate("key", "stale")
    with pytest.raises(OperationalError):
        cache_get_or_load("key", "stale", unreachable)


@pytest.mark.engine_independent
def test_a_window_of_zero_caches_nothing(settings):
    settings.L1_CACHE_TTL = 0
    l1.cache_clear()
    try:
        assert cache_get_or_load("price", "m", lambda: "v1") == "v1"
        assert cache_get_or_load("price", "m", lambda: "v2") == "v2"
        assert cache.get("c2:price:m") is None
    finally:
        l1.cache_clear()


@pytest.mark.engine_independent
def test_after_a_connection_failure_loads_skip_the_database_until_one_probe_finds_it_back(monkeypatch):
    monkeypatch.setattr(cache_module, "DATABASE_PAUSE", 0.3)
    tried = []

    def unreachable() -> str:
        tried.append(1)
        raise OperationalError("connection refused")

    l1().set(("key", "warm"), "cached", loaded_at=time.time() - window() + 0.1)  # in memory, not in Redis
    time.sleep(0.2)  # expired: the next load tries the database
    assert cache_get_or_load("key", "warm", unreachable) == "cached"
    assert cache_get_or_load("key", "warm", unreachable) == "cached"  # served from memory, not tried again
    with pytest.raises(OperationalError):
        cache_get_or_load("key", "cold", unreachable)  # at once: no wait on a dead database
    assert tried == [1]
    time.sleep(0.4)
    assert cache_get_or_load("key", "cold", lambda: "back") == "back"  # the probe finds it back
    assert cache_get_or_load("key", "other", lambda: "read") == "read"


@pytest.mark.engine_independent
def test_many_keys_are_dropped_in_redis_and_by_one_message():
    for name in ("m0", "m1", "m2"):
        cache_get_or_load("price", name, lambda: "old")
    cache_invalidate_many("price", ["m0", "m1"])
    assert cache.get("c2:price:m0") is None and cache.get("c2:price:m1") is None
    assert cache_get_or_load("price", "m0", lambda: "new") == "new"
    assert l1().get(("price", "m2")) == "old"
    apply_invalidation({"type": "cache.invalidate", "namespace": "price", "keys": ["m2"]})  # from another instance
    assert cache_get_or_load("price", "m2", lambda: "new") == "new"
