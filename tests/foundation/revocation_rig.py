"""The rig of the revocation tests: a Redis with its append-only file, two gateways, traffic and its record."""

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.deploy.servers import REDIS_SERVER, RedisServer, wait_until

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class AofRedis(RedisServer):
    """A Redis that keeps its data in an append-only file (fsynced on every write), as compose runs it:
    stopped and started again, it comes back with every entry it held, expiry times included."""

    folder: Path = field(default_factory=Path)

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, what="redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            super().stop()  # SIGTERM: Redis writes out its append-only file and exits
        self.process = None

    @property
    def up(self) -> bool:
        return self.process is not None

    def subscribers(self, channel: str) -> int:
        import redis

        with contextlib.suppress(redis.RedisError):
            return int(dict(redis.Redis(port=self.port, socket_timeout=0.5).pubsub_numsub(channel))[channel.encode()])
        return 0


@dataclass(frozen=True)
class Call:
    sent: float  # time.time() when the request left
    gateway: str
    key: str  # which key: "victim" or "bystander"
    status: int


@dataclass
class Traffic:
    """Calls with each named key on each gateway, one after another per pair, until stopped; all recorded."""

    urls: list[str]
    keys: dict[str, str]
    pause: float = 0.03
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, url: str, name: str, raw: str) -> None:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {raw}"}) as client:
            while not self._stop.is_set():
                sent = time.time()
                status = client.post("/v1/chat/completions", json=BODY).status_code
                self.calls.append(Call(sent=sent, gateway=url, key=name, status=status))
                time.sleep(self.pause)

    @contextlib.contextmanager
    def running(self) -> Iterator["Traffic"]:
        for url in self.urls:
            for name, raw in self.keys.items():
                thread = threading.Thread(target=self._run, args=(url, name, raw), daemon=True)
                thread.start()
                self._threads.append(thread)
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=60)

    def of(self, key: str, *, after: float = 0.0, gateway: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.key == key and c.sent >= after and gateway in (None, c.gateway)]


def admin(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def new_key(url: str, token: str, user_id: str) -> dict[str, Any]:
    """An unlimited account with one key, made through the REST API; the key as POST answers it (`id`, `key`)."""
    with admin(url, token) as api:
        api.post("/api/accounts/", json={"user_id": user_id}).raise_for_status()
        created = api.post("/api/keys/", json={"user_id": user_id, "name": "rig"})
        created.raise_for_status()
        return dict(created.json())


def warm(urls: list[str], raw: str) -> None:
    """Calls with the key on every gateway until each answers 200: its state is in L1 and in Redis."""
    for url in urls:
        for _ in range(3):
            response = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {raw}"})
            assert response.status_code == 200, response.text
