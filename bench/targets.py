"""What a benchmark run starts: the mock upstream, our gateway and the peers, each on a free 127.0.0.1 port."""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import peers
from bench.processes import BenchError, Children, free_port, pinned, wait_http

ROOT = Path(__file__).resolve().parent.parent
# Set to "" so a developer's .env (read by settings with override=False) cannot add a real
# provider, Redis or MongoDB to the run: only the mock upstream is configured.
BLANKED = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_API_BASE", "GOOGLE_API_KEY", "GOOGLE_API_BASE", "COHERE_API_KEY",
    "COHERE_API_BASE", "AZURE_API_KEY", "AZURE_API_BASE", "CUSTOM_LLM_PROVIDER", "CUSTOM_API_KEY",
    "CUSTOM_API_BASE", "REDIS_URL", "MONGO_URI", "ADMIN_API_KEY", "KEY_HASH_SECRET",
)  # fmt: skip
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class Target:
    """One thing to measure, started and answering."""

    name: str  # "gateway", "gateway-old", "litellm", "portkey"
    label: str  # what the table calls it
    version: str
    port: int
    key: str
    proc: subprocess.Popen[bytes]
    log: Path
    start_seconds: float
    headers: dict[str, str] = field(default_factory=dict)
    install: peers.Install | None = None
    path: str = "/v1/chat/completions"  # the route measured now (bench/crosses.py)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **self.headers}


@dataclass(frozen=True)
class Checkout:
    """Where our gateway runs from: this checkout, or an older one (`--old-root`) with its own venv."""

    name: str  # "gateway" or "gateway-old"
    root: Path
    python: str

    @property
    def database(self) -> str:
        return f"{self.name}.sqlite3"


def checkout(name: str, root: Path | None) -> Checkout:
    """This checkout runs with the harness's own interpreter; another with the venv `uv sync` made in it."""
    if root is None or root.resolve() == ROOT:
        return Checkout(name, ROOT, sys.executable)
    root = root.resolve()
    python = root / ".venv" / "bin" / "python"
    if not (root / "manage.py").exists() or not python.exists():
        raise BenchError(f"{root} is not a checkout with a venv: run `uv sync --frozen` in it first")
    return Checkout(name, root, str(python))


def gateway_env(tmp: Path, mock_port: int, *, code: Checkout, anthropic: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({name: "" for name in BLANKED})
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings",
        DATABASE_URL=f"sqlite:///{tmp / code.database}",
        DJANGO_SECRET_KEY="bench-" + os.urandom(16).hex(),
        DJANGO_DEBUG="false",
        OPENAI_API_KEY="sk-bench",
        OPENAI_API_BASE=f"http://127.0.0.1:{mock_port}/v1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(code.root),
    )
    if anthropic:
        # The cross-format calls' providers (bench/crosses.py), each at the mock's bare host: the gateway adds
        # each provider's own path (/v1/messages, /v1beta/models/...:generateContent, /v2/chat).
        mock = f"http://127.0.0.1:{mock_port}"
        env.update(ANTHROPIC_API_KEY="sk-ant-bench", ANTHROPIC_API_BASE=mock)
        env.update(
            GOOGLE_API_KEY="gemini-bench", GOOGLE_API_BASE=mock, COHERE_API_KEY="cohere-bench", COHERE_API_BASE=mock
        )
    return env


def start_mock(children: Children, tmp: Path, *, cpu: int, chunks: int, interval_ms: float) -> int:
    port, log = free_port(), tmp / "mock.log"
    argv = [sys.executable, "-m", "bench.mock_upstream", "--port", str(port), "--paced-chunks", str(chunks),
            "--paced-interval-ms", str(interval_ms)]  # fmt: skip
    proc = children.start("mock", pinned(argv, cpu), env={**os.environ, "PYTHONPATH": str(ROOT)}, log=log)
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc=proc, log=log, timeout=15)
    return port


def prepare_database(env: dict[str, str], code: Checkout) -> dict[str, Any]:
    """Migrates the throwaway database and makes the accounts, keys and prices (bench/prepare.py).

    This harness's prepare.py runs on the checkout's code and venv (`-P`: its own directory is
    not put on sys.path), so an older checkout gets the same accounts and prices.
    """
    argv = [code.python, "-P", str(Path(__file__).with_name("prepare.py"))]
    done = subprocess.run(argv, env=env, cwd=code.root, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BenchError(f"preparing the database failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def start_gateway(
    children: Children, tmp: Path, *, code: Checkout, env: dict[str, str], key: str, workers: int, cpu: int
) -> Target:
    port, log = free_port(), tmp / f"{code.name}.log"
    argv = [code.python, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
            str(workers)]  # fmt: skip
    start = time.monotonic()
    proc = children.start(code.name, pinned(argv, cpu), env=env, log=log, cwd=code.root)
    auth = {"Authorization": f"Bearer {key}"}
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc=proc, log=log, timeout=90, headers=auth)
    version = "?"
    if git := shutil.which("git"):
        head = subprocess.run(  # noqa: S603 - fixed argv
            [git, "-C", str(code.root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        )
        version = head.stdout.strip() or "?"
    return Target(code.name, "our gateway", version, port, key, proc, log, time.monotonic() - start)


@dataclass
class Starting:
    """A peer whose process is started but may not answer yet."""

    target: Target
    ready_url: str
    started: float


def launch_peer(
    name: str, children: Children, tmp: Path, *, cache: Path, mock_port: int, model: str, workers: int, cpu: int
) -> Starting:
    """Installs (once) and starts LiteLLM's proxy or Portkey's gateway; PeerUnavailable if the install fails."""
    port, log = free_port(), tmp / f"{name}.log"
    if name == "litellm":
        install = peers.install_litellm(cache)
        launch = peers.litellm_launch(install, tmp=tmp, port=port, mock_port=mock_port, model=model, workers=workers)
        label, version = "LiteLLM proxy", peers.LITELLM_VERSION
    else:
        install = peers.install_portkey(cache)
        launch = peers.portkey_launch(install, port=port, mock_port=mock_port, workers=workers)
        label, version = "Portkey gateway", peers.PORTKEY_VERSION
    start = time.monotonic()
    proc = children.start(name, pinned(launch.argv, cpu), env=launch.env, log=log)
    target = Target(name, label, version, port, launch.key, proc, log, 0.0, launch.headers, install)
    return Starting(target, f"http://127.0.0.1:{port}{launch.ready_path}", start)


def peer_ready(starting: Starting, children: Children) -> Target:
    """Waits for a launched peer to answer; PeerUnavailable (and the process stopped) if it never does."""
    target = starting.target
    try:
        wait_http(starting.ready_url, proc=target.proc, log=target.log, timeout=120)
    except BenchError as exc:
        children.stop(target.proc)
        raise peers.PeerUnavailable(f"{target.label} did not start: {exc}") from None
    target.start_seconds = time.monotonic() - starting.started
    return target
