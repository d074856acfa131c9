"""A Redis outage: requests keep flowing from the database, fast, and the log says so once, not per request."""

import logging
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from django.test import override_settings

from core import backends
from core.backends import redis_caches

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of this test's own, on a free port: the suite's session Redis is never touched."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(monkeypatch) -> Iterator[RedisServer]:
    monkeypatch.setattr(backends, "OUTAGE_PAUSE", 1.0, raising=False)
    server = RedisServer()
    server.start()
    with override_settings(CACHES=redis_caches(f"redis://127.0.0.1:{server.port}/0", key_prefix="outage")):
        yield server
    if server.process and server.process.poll() is None:
        server.kill()


def calls(gateway, key, count):
    """`count` requests; each must answer 200, none may wait on the dead Redis."""
    slowest = 0.0
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for _ in range(count):
            started = time.monotonic()
            response = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"})
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 200, response.text
    return slowest


def outage_records(caplog):
    return [r for r in caplog.records if r.name.startswith(("django_redis", "core.backends"))]


def test_a_redis_outage_is_logged_once_and_requests_keep_flowing(gateway, make_customer, own_redis, caplog):
    caplog.set_level(logging.INFO)
    customer = make_customer(rpm_limit=10_000)  # rate-limit counters touch Redis on every request
    calls(gateway, customer.key, 3)
    assert outage_records(caplog) == []

    own_redis.kill()
    slowest = calls(gateway, customer.key, 40)
    records = outage_records(caplog)
    assert [(r.levelname, r.exc_info) for r in records] == [("WARNING", None)], [r.getMessage() for r in records]
    assert "unreachable" in records[0].getMessage()
    assert slowest < 2.0  # at most one socket timeout (0.25 s) and the usual work, never a hang

    own_redis.start()
    time.sleep(1.2)  # past the breaker's pause
    calls(gateway, customer.key, 3)
    records = outage_records(caplog)
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert "reachable again" in records[1].getMessage()
    assert all(r.exc_info is None for r in records)


def test_while_redis_is_down_the_cache_answers_a_miss_at_once(own_redis, caplog):
    """The cache answers a miss at once while Redis is down, and logs no traceback."""
    from django.core.cache import cache

    caplog.set_level(logging.INFO)
    cache.set("k", 1)
    assert cache.get("k") == 1
    own_redis.kill()
    started = time.monotonic()
    for _ in range(100):
        assert cache.get("k") is None
        cache.set("k", 2)
    assert time.monotonic() - started < 1.0
    assert len(outage_records(caplog)) == 1


@pytest.mark.engine_independent  # Redis of its own, no database
def test_an_invalidation_made_while_redis_is_down_reaches_it_once_it_is_back(tmp_path, monkeypatch, caplog):
    """The outbox deletes the entry Redis brought back from its append-only file, and publishes the message."""
    import asyncio

    from core.cache import INVALIDATION_GROUP, cache_get_or_load, cache_invalidate, outbox_retry
    from tests.foundation.revocation_rig import AofRedis
    from tests.gateway import redis_settings

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(backends, "OUTAGE_PAUSE", 0.2, raising=False)
    server = AofRedis(folder=tmp_path)
    server.start()
    raw = redis.Redis(port=server.port, socket_timeout=1)
    try:
        with override_settings(**redis_settings(server.url)):
            assert cache_get_or_load("key", "k", lambda: "active") == "active"
            server.stop()
            cache_invalidate("key", "k")  # neither deleted in Redis nor published
            server.start()
            assert raw.keys("*c2:key:k")  # back, from the append-only file
            listener = raw.pubsub()
            listener.subscribe(f"asgi__group__{INVALIDATION_GROUP}")
            time.sleep(0.3)  # past the breaker's pause
            asyncio.run(outbox_retry(asyncio.to_thread))
            assert not raw.keys("*c2:key:k")
            messages = [listener.get_message(timeout=2) for _ in range(2)]
            assert [m["type"] for m in messages if m] == ["subscribe", "message"]
    finally:
        server.stop()
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "core.cache"]
    assert [level for level, _ in logged] == ["WARNING", "INFO"], logged
