"""The peers the benchmark runs beside our gateway: LiteLLM's proxy and Portkey's gateway, installed outside our lock.

Each is installed once into a cache directory (`--cache-dir`, default `$GW_BENCH_CACHE` or
`~/.cache/gw-bench`) by its ordinary client from its registry: LiteLLM into its own virtualenv
with uv, Portkey with `npm ci` from the lock file in bench/portkey/. Both are then started
pointing at the mock upstream with an environment that lets neither reach the network
(LiteLLM's cost map is read locally; no database, no Redis, no proxy variables).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
LITELLM_VERSION = "1.106.2"
LITELLM_COMPROMISED = ("1.82.7", "1.82.8")  # yanked, malicious releases (NOTES.md): never install them
PORTKEY_VERSION = "1.15.2"
MARKER = ".bench-installed"


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started here; the harness reports it as skipped."""


@dataclass
class Install:
    path: Path
    seconds: float  # wall time of the install; 0 when it was already in the cache
    cached: bool


@dataclass
class Launch:
    """How to start one peer and talk to it."""

    argv: list[str]
    env: dict[str, str]
    ready_path: str  # GET this until it answers 200
    key: str  # bearer token for /v1/chat/completions
    headers: dict[str, str] = field(default_factory=dict)


def cache_dir(given: Path | None) -> Path:
    if given:
        return given
    if os.environ.get("GW_BENCH_CACHE"):
        return Path(os.environ["GW_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gw-bench"


def clean_env(**extra: str) -> dict[str, str]:
    """A small environment for a peer: nothing of the developer's (keys, DATABASE_URL, proxies) leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "TZ")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


def _run(argv: list[str], *, what: str, cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise PeerUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


def uv_binary() -> str:
    for candidate in (shutil.which("uv"), str(Path.home() / ".local" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    raise PeerUnavailable("uv is not installed (source scripts/bootstrap.sh installs it)")


def install_litellm(cache: Path) -> Install:
    venv = cache / f"litellm-{LITELLM_VERSION}"
    if (venv / MARKER).exists() and (venv / "bin" / "litellm").exists():
        return Install(venv, 0.0, cached=True)
    shutil.rmtree(venv, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    start, uv = time.monotonic(), uv_binary()
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], what="uv venv for LiteLLM")
    spec = f"litellm[proxy]=={LITELLM_VERSION}"
    python = str(venv / "bin" / "python")
    _run(
        [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python, spec], what=f"uv pip install {spec}"
    )
    version = subprocess.run(  # noqa: S603 - fixed argv
        [python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if version != LITELLM_VERSION or version in LITELLM_COMPROMISED:
        shutil.rmtree(venv, ignore_errors=True)
        raise PeerUnavailable(f"the LiteLLM venv holds litellm {version or '?'}, not {LITELLM_VERSION}")
    (venv / MARKER).write_text(LITELLM_VERSION + "\n")
    return Install(venv, time.monotonic() - start, cached=False)


def install_portkey(cache: Path) -> Install:
    home = cache / f"portkey-{PORTKEY_VERSION}"
    entry = home / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if (home / MARKER).exists() and entry.exists():
        return Install(home, 0.0, cached=True)
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        raise PeerUnavailable("node and npm are not installed (apt-get install nodejs npm)")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(BENCH / "portkey" / name, home / name)
    start = time.monotonic()
    # The lock pins every transitive version; scripts stay off (its only one, patch-package, has nothing to do).
    _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], what="npm ci", cwd=home)
    installed = json.loads((home / "node_modules" / "@portkey-ai" / "gateway" / "package.json").read_text())
    if installed.get("version") != PORTKEY_VERSION or not entry.exists():
        raise PeerUnavailable(f"npm installed @portkey-ai/gateway {installed.get('version')}, not {PORTKEY_VERSION}")
    (home / MARKER).write_text(PORTKEY_VERSION + "\n")
    return Install(home, time.monotonic() - start, cached=False)


def litellm_models(model: str, mock_port: int) -> list[dict[str, object]]:
    """The benchmark's models on the mock, as LiteLLM's proxy config names them (bench/crosses.py's calls).

    Each `api_base` is what LiteLLM's own provider takes: OpenAI's with /v1, Anthropic's host (it adds
    /v1/messages), Gemini's with its version (it adds /models/<model>:generateContent), Cohere's full
    chat URL.
    """
    mock = f"http://127.0.0.1:{mock_port}"
    routes = [
        (model, f"openai/{model}", f"{mock}/v1"),
        ("claude-haiku-4-5", "anthropic/claude-haiku-4-5", mock),
        ("gemini-2.5-flash", "gemini/gemini-2.5-flash", f"{mock}/v1beta"),
        ("command-r-08-2024", "cohere/command-r-08-2024", f"{mock}/v2/chat"),
    ]
    return [
        {"model_name": name, "litellm_params": {"model": target, "api_base": base, "api_key": "sk-bench"}}
        for name, target, base in routes
    ]


def litellm_launch(install: Install, *, tmp: Path, port: int, mock_port: int, model: str, workers: int) -> Launch:
    master = "sk-bench-master-" + secrets.token_hex(8)
    config = {
        "model_list": litellm_models(model, mock_port),
        # No database_url: the proxy then keeps no spend logs, which is the lightest setup it has.
        "general_settings": {"master_key": master},
        "litellm_settings": {"telemetry": False},
    }
    # JSON is YAML, so the config needs no YAML writer here.
    (tmp / "litellm.yaml").write_text(json.dumps(config, indent=1))
    argv = [str(install.path / "bin" / "litellm"), "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", str(workers)]  # fmt: skip
    env = clean_env(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # else importing litellm downloads the cost map
        LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS="True",  # else the first Anthropic call fetches a config
    )
    return Launch(argv, env, "/health/liveliness", master)


def portkey_launch(install: Install, *, port: int, mock_port: int, workers: int) -> Launch:
    entry = install.path / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    node = shutil.which("node") or "node"
    argv = [node, str(BENCH / "portkey" / "serve.mjs"), str(entry), f"--port={port}", "--headless"]
    env = clean_env(NODE_ENV="production", BENCH_WORKERS=str(workers))
    # Portkey takes the provider and its base URL per request; the key is the provider's, passed through.
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{mock_port}/v1"}
    return Launch(argv, env, "/", "sk-bench", headers=headers)
