"""The processes of `scripts/instances`: PostgreSQL, Redis, the mock provider, gateway instances and nginx.

nginx's configuration is deploy/nginx.conf itself with only what a process run needs changed (the
instances' loopback ports instead of the compose services, a loopback listen port, a pid file, temp
and log paths in the run's folder); each change is asserted, so an edit of deploy/nginx.conf that
this run would silently stop following fails here instead.
"""

# ruff: noqa: S603, S607 - every argv is built here (fixed programs on PATH), never from input

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import BenchError, Children, free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
START_TIMEOUT = 180.0  # importing LiteLLM takes seconds, a minute and more on a loaded 2-core machine
# The environment of the shell that must not reach the processes started here.
_DROPPED = ("DATABASE_", "MONGO_", "REDIS_", "GATEWAY_", "DJANGO_", "PYTEST_", "PROMETHEUS_")


def _sub(pattern: str, replacement: str, text: str, *, count: int = 1) -> str:
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise BenchError(f"deploy/nginx.conf changed: {pattern!r} matched {found} times, not {count}")
    return new


def nginx_config(*, ports: list[int], listen: int, folder: Path) -> str:
    """deploy/nginx.conf for these instance ports, listening on 127.0.0.1:`listen`, everything else as written."""
    text = NGINX_CONF.read_text()
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in ports)
    text = _sub(r"^        server app(-\d)?:8000 max_fails=3 fail_timeout=10s;\n", "", text, count=3)
    text = _sub(r"^(    upstream gateways \{\n.*\n)", r"\1" + servers.replace("\\", "\\\\"), text)
    text = _sub(r"^        listen 80;", f"        listen 127.0.0.1:{listen};", text)
    text = _sub(r"^pid /tmp/nginx.pid;", f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;", text)
    temp = "".join(
        f"    {name}_temp_path {folder}/{name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return _sub(r"^(http \{\n)", r"\1" + temp, text)


@dataclass
class Instance:
    """One `manage.py serve` process (one worker), on a port it keeps across restarts, with its own spool."""

    number: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """Everything one run starts; `children` stops it all at exit."""

    folder: Path
    children: Children
    pg_dir: str = ""
    database_url: str = ""
    redis_port: int = field(default_factory=free_port)
    mock_port: int = field(default_factory=free_port)
    nginx_port: int = field(default_factory=free_port)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    instances: list[Instance] = field(default_factory=list)
    nginx: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED) and not k.endswith("_API_KEY")}
        env.update(
            DJANGO_SETTINGS_MODULE="gateway_project.settings",
            DJANGO_SECRET_KEY=self.secret,
            ADMIN_API_KEY=self.admin_key,
            DATABASE_URL=self.database_url,
            DATABASE_POOL_MAX="10",  # three instances under PostgreSQL's 100 connections
            REDIS_URL=self.redis_url,
            OPENAI_API_KEY="sk-bench-mock",
            OPENAI_API_BASE=f"http://127.0.0.1:{self.mock_port}/v1",
            LOG_LEVEL="WARNING",
        )
        env.update(self.extra_env, **extra)
        return env

    def start_servers(self) -> None:
        """PostgreSQL (scripts/postgres), Redis and the mock provider; then the schema."""
        started = subprocess.run(
            [str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, check=True
        ).stdout
        values = dict(re.findall(r"(\w+)=(\S+)", started))
        self.pg_dir, self.database_url = values["PGDATA_DIR"], values["PG_URL"]
        _create_database(self.database_url)
        redis = [
            "redis-server",
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.children.start("redis", redis, env=os.environ, log=self.folder / "redis.log", cwd=self.folder)
        mock = [sys.executable, "-m", "bench.mock_upstream", "--port", str(self.mock_port)]
        self.children.start("mock", mock, env={**os.environ, "PYTHONPATH": str(ROOT)}, log=self.folder / "mock.log")
        manage("migrate", "--noinput", env=self.env())

    def stop_postgres(self) -> None:
        if self.pg_dir:
            shutil.copy(Path(self.pg_dir) / "log", self.folder / "postgres.log")  # kept with --keep
            subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", self.pg_dir], check=False)
            self.pg_dir = ""

    def start_instance(self, instance: Instance) -> None:
        spool = self.folder / f"spool-{instance.number}"  # per instance, kept across its restarts
        argv = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(instance.port)]
        argv += ["--workers", "1", "--proxy-headers"]
        log = self.folder / f"instance-{instance.number}.log"
        with log.open("ab") as out:
            instance.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env(GATEWAY_SPOOL_DIR=str(spool)), stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        self.children.procs.append((f"instance-{instance.number}", instance.process))

    def wait_instance(self, instance: Instance) -> None:
        assert instance.process is not None
        log = self.folder / f"instance-{instance.number}.log"
        wait_http(f"{instance.url}/healthz", proc=instance.process, log=log, timeout=START_TIMEOUT)

    def kill_instance(self, instance: Instance) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost host would: no shutdown code runs."""
        assert instance.process is not None
        os.killpg(instance.process.pid, signal.SIGKILL)
        instance.process.wait(timeout=30)

    def start_nginx(self, instances: list[Instance]) -> None:
        folder = self.folder / "nginx"
        folder.mkdir(exist_ok=True)
        conf = folder / "nginx.conf"
        conf.write_text(nginx_config(ports=[i.port for i in instances], listen=self.nginx_port, folder=folder))
        if self.nginx is None:
            argv = ["nginx", "-p", str(folder), "-c", str(conf), "-g", "daemon off; user root;"]
            self.nginx = self.children.start("nginx", argv, env=os.environ, log=folder / "stdout.log")
            wait_http(f"{self.url}/lb-health", proc=self.nginx, log=folder / "error.log", timeout=30)
            return
        subprocess.run(["nginx", "-p", str(folder), "-c", str(conf), "-g", "user root;", "-s", "reload"], check=True)
        time.sleep(1.0)  # the old workers finish, the new ones take the listening socket


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def _create_database(url: str) -> None:
    import psycopg

    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
