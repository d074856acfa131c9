"""Real servers a deployment test starts, stops and restarts itself: Redis, PostgreSQL, `manage.py serve`."""

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.1)


@dataclass
class RedisServer:
    """A redis-server of our own on a fixed port, so it can be stopped and started again at the same URL."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, what="redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.2).ping())
        except redis.RedisError:
            return False


def _postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(found[-1]).parent) if found else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's binaries, as scripts/postgres) that can be stopped and restarted."""

    bindir: str
    root: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="gateway-pg-ready."))
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://gateway@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [f"{self.bindir}/{args[0]}", *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        self._run("initdb", "-D", f"{self.root}/data", "-U", "gateway", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", f"{self.root}/data", "-l", f"{self.root}/log", "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", f"{self.root}/data", "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bin()
    if bindir is None:
        import pytest

        pytest.skip("PostgreSQL is not installed (scripts/test installs it)")
    server = PostgresServer(bindir=bindir)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@dataclass
class ServedGateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def gateway_env(**overrides: str) -> dict[str, str]:
    """The environment of a gateway subprocess: the suite's secret, nothing from the developer's shell."""
    env = {name: value for name, value in os.environ.items() if not name.endswith(("_API_KEY", "_API_BASE"))}
    for name in ("DATABASE_URL", "MONGO_URI", "REDIS_URL", "CUSTOM_LLM_PROVIDER", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env["DJANGO_SECRET_KEY"] = os.environ.get("DJANGO_SECRET_KEY", "test-secret-not-for-production")
    env["DJANGO_SETTINGS_MODULE"] = "gateway_project.settings"
    env.update(overrides)
    return env


@contextlib.contextmanager
def served_gateway(env: dict[str, str], *, workers: int = 1, log_dir: Path) -> Iterator[ServedGateway]:
    """`manage.py serve` in a process of its own, as production runs it; waits for /healthz."""
    port = free_port()
    log = log_dir / f"gateway-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = ServedGateway(url=f"http://127.0.0.1:{port}", process=process, log=log, env=env)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited:\n{gateway.output()}")
        try:
            return gateway.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def all_workers_up() -> bool:
        return healthy() and gateway.output().count("Application startup complete") >= workers

    try:
        # Start-up imports LiteLLM in every worker: seconds each, more on a busy machine.
        wait_until(all_workers_up, timeout=150, what="the gateway's workers did not all start")
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
