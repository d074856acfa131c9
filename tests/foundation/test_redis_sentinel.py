"""Redis Sentinel (REDIS_SENTINELS): cache, rate-limit and health scripts and invalidations survive a failover."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from core.backends import redis_caches, redis_channel_layers
from core.cache import cache_invalidate
from proxy.ratelimit import limits_admit
from routing.health import health_read, health_record
from tests.deploy.servers import REDIS_SERVER, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
MASTER = "gwmaster"

pytestmark = pytest.mark.engine_independent  # Redis processes and a peer only


@dataclass
class Sentinel:
    """A master, one replica and one Sentinel watching them (quorum 1), all real redis-server processes."""

    folder: Path
    master: int
    replica: int
    sentinel: int
    processes: dict[int, subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"redis://{MASTER}/0"

    def master_port(self) -> int:
        host_port = redis.Redis(port=self.sentinel).execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
        return int(host_port[1])

    def replicas_known(self) -> int:
        return len(redis.Redis(port=self.sentinel).execute_command("SENTINEL", "replicas", MASTER))


def _redis(port: int, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    args = [REDIS_SERVER, *extra, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    # In the test's folder: a replica writes the master's snapshot into its working directory.
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    ports = {name: free_port() for name in ("master", "replica", "sentinel")}
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its file: one of its own
    conf.write_text(
        f"sentinel monitor {MASTER} 127.0.0.1 {ports['master']} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 5000\n"
    )
    processes = {ports["master"]: _redis(ports["master"], log=tmp_path / "master.log")}
    replica = ("--replicaof", "127.0.0.1", str(ports["master"]))
    processes[ports["replica"]] = _redis(ports["replica"], *replica, log=tmp_path / "replica.log")
    processes[ports["sentinel"]] = _redis(ports["sentinel"], str(conf), "--sentinel", log=tmp_path / "s.log")
    found = Sentinel(tmp_path, ports["master"], ports["replica"], ports["sentinel"], processes)
    try:
        wait_until(lambda: _answers(found.sentinel) and found.replicas_known() == 1, timeout=30, what="no replica")
        yield found
    finally:
        for process in processes.values():
            process.kill()
            process.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _check_everything(tag: str, peer: subprocess.Popen[str]) -> None:
    """What the gateway keeps in Redis, each checked so that failing open (Redis unreachable) would fail it."""
    cache.set(f"entry-{tag}", "value", timeout=60)
    assert cache.get(f"entry-{tag}") == "value"
    admitted = [limits_admit(key_id=f"key-{tag}", rpm=2, tpm=None, tokens=1).retry_after is None for _ in range(3)]
    assert admitted == [True, True, False]  # open (Redis away) would admit all three
    started = [health_record(deployment_id=f"dep-{tag}", failed=True, error="boom") for _ in range(3)]
    assert started == [False, False, True]
    assert health_read(deployment_ids=[f"dep-{tag}"])[f"dep-{tag}"].cooling_until > time.time()
    assert peer.stdin is not None and peer.stdout is not None
    peer.stdin.write(f"entry-{tag}\n")
    peer.stdin.flush()
    assert peer.stdout.readline().strip() == "ready"
    cache_invalidate("key", f"entry-{tag}")
    assert peer.stdout.readline().strip() == "dropped"


def _settings(found: Sentinel) -> dict[str, Any]:
    sentinels = [("127.0.0.1", found.sentinel)]
    return {
        "CACHES": redis_caches(found.url, key_prefix="gwsentinel", sentinels=sentinels),
        "CHANNEL_LAYERS": redis_channel_layers(found.url, sentinels=sentinels),
    }


@pytest.mark.timeout(180)
def test_the_gateway_follows_sentinel_to_the_new_master_after_a_failover(sentinel: Sentinel):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": sentinel.url}
    env["REDIS_SENTINELS"] = f"127.0.0.1:{sentinel.sentinel}"
    peer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("sentinel_peer.py"))],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with override_settings(**_settings(sentinel)):
            _check_everything("before", peer)
            assert redis.Redis(port=sentinel.master).dbsize() > 0  # it was the master that held them

            sentinel.processes[sentinel.master].send_signal(signal.SIGKILL)
            wait_until(lambda: sentinel.master_port() == sentinel.replica, timeout=60, what="no failover")

            def writes_again() -> bool:
                cache.set("probe", "1", timeout=60)
                return bool(cache.get("probe") == "1")

            wait_until(writes_again, timeout=30, what="the cache did not reach the new master")  # breaker: 5 s
            _check_everything("after", peer)
            promoted = redis.Redis(port=sentinel.replica)
            assert promoted.exists("gwsentinel:1:entry-after") and promoted.keys("gwsentinel:rl:rpm:key-after:*")
    finally:
        peer.kill()
        peer.wait(timeout=10)
