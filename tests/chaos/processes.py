"""Gateway processes for the chaos tests: real `manage.py serve` subprocesses on free loopback ports."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0  # importing LiteLLM takes seconds, a minute and more on a loaded 2-core machine
# uvicorn re-raises the SIGTERM it handled once it has shut down, so a clean stop can read as -15.
CLEAN_EXITS = (0, -signal.SIGTERM)
# Variables of the developer's or the suite's shell that must not reach a gateway we start.
_DROPPED_PREFIXES = ("GATEWAY_", "DATABASE_", "MONGO_", "REDIS_", "PYTEST_", "DJANGO_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL (or MongoDB URI) for the database Django is connected to (the suite's test database)."""
    if settings_dict["ENGINE"] == "django_mongodb_backend":
        # The server tests/settings.py took from --mongo-uri, with the test database as the URI's path.
        uri = urllib.parse.urlsplit(os.environ["MONGO_URI"])
        return urllib.parse.urlunsplit(uri._replace(path=f"/{settings_dict['NAME']}"))
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{settings_dict['USER']}{password}@{host}{port}/{settings_dict['NAME']}"


def gateway_env(
    *, database_url: str, redis_url: str, upstream_url: str, spool_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a gateway process: this suite's database, Redis, secret and test upstream."""
    if database_url.startswith(("mongodb://", "mongodb+srv://")):
        name = urllib.parse.urlsplit(database_url).path.lstrip("/")
        database = {"MONGO_URI": database_url, "MONGO_DB_NAME": name}
    else:
        database = {"DATABASE_URL": database_url}
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and not name.endswith(("_API_KEY", "_API_BASE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings",
        # The suite's secret, so keys created by the test hash to what the gateway looks up.
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
        REDIS_URL=redis_url,
        OPENAI_API_KEY="sk-upstream-openai",
        OPENAI_API_BASE=f"{upstream_url}/v1",
        GATEWAY_SPOOL_DIR=str(spool_dir),
        LOG_LEVEL="WARNING",
    )
    env.update(database)
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs a management command in its own process, as an operator would; raises with its output on failure."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class GatewayProcess:
    """One `manage.py serve` process; its output goes to `log` (shown when a test fails)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM and wait: the graceful path, which drains pending writes. True if it exited cleanly."""
        self.signal(signal.SIGTERM)
        try:
            code = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.wait(10)
            return False
        return code in CLEAN_EXITS

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


def spawn_gateway(*, env: dict[str, str], log: Path) -> GatewayProcess:
    """Starts a gateway process without waiting for it (start several at once: each takes seconds)."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return GatewayProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)


def wait_ready(gateway: GatewayProcess) -> GatewayProcess:
    """Waits until the gateway answers HTTP (uvicorn binds only after lifespan start-up)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if gateway.process.poll() is not None:
            raise AssertionError(f"the gateway exited with {gateway.process.returncode}:\n{gateway.output()}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{gateway.url}/v1/models", timeout=2)
            return gateway
        if time.monotonic() > deadline:
            gateway.signal(signal.SIGKILL)
            raise AssertionError(f"the gateway did not start in {START_TIMEOUT_S} s:\n{gateway.output()}")
        time.sleep(0.1)


@contextlib.contextmanager
def gateways() -> Iterator[list[GatewayProcess]]:
    """Collects the processes a test starts and kills whatever is still alive at its end."""
    started: list[GatewayProcess] = []
    try:
        yield started
    finally:
        for gateway in started:
            gateway.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                gateway.wait(10)
