"""The two-level cache: invalidations reach every instance; a dead Redis never stops requests."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.cache import cache_get_or_load, cache_invalidate, l1
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
