"""The README's quick start, run as written on a fresh clone: its commands are read from the README itself.

A local `git clone` of this repository into a temporary folder; the provider is the test upstream
(OPENAI_API_BASE); uv's cache is the machine's, so the clone's install links packages rather than
downloading them. If the README's quick start drifts from what works, this test fails.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.engine_independent  # its own clone, its own SQLite file
ROOT = Path(__file__).resolve().parents[2]


def quick_start_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block in the README's "Quick start" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


def commands(code: str) -> list[str]:
    lines = [line.split("  #", 1)[0].strip() for line in code.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(900)
def test_the_readme_quick_start_works_on_a_fresh_clone(tmp_path, upstream):
    blocks = quick_start_blocks()
    shells = [code for language, code in blocks if language == "sh"]
    python = next(code for language, code in blocks if language == "python")
    start, setup = commands(shells[0]), commands(shells[1])
    assert "scripts/run" in start, start

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "GATEWAY_", "PROMETHEUS_", "PYTEST", "VIRTUAL_ENV"))
        and name not in ("DATABASE_URL", "MONGO_URI", "REDIS_URL", "ADMIN_API_KEY")
        and not name.endswith(("_API_KEY", "_API_BASE"))
    }
    env |= {"OPENAI_API_KEY": "sk-upstream-openai", "OPENAI_API_BASE": f"{upstream.url}/v1", "HOME": os.environ["HOME"]}
    # The README's first block: the provider key (given above, pointed at the test upstream), then scripts/run.
    run_line = next(line for line in start if line.startswith("scripts/run"))
    server = subprocess.Popen(
        ["bash", "-c", f"{run_line} --port {port}"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600  # a clone's first uv sync, migrations, LiteLLM's import
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "scripts/run did not serve"
            time.sleep(1)
        assert (clone / ".env").exists()  # written by the first start, as the README says
        # The README's second block, line by line in one shell, in the clone; the last line prints the key.
        done = subprocess.run(
            ["bash", "-ec", "\n".join(setup)], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        key = done.stdout.strip().splitlines()[-1]
        assert key.startswith("gw-"), done.stdout
        # The README's Python, with the key it printed and this server's port.
        code = python.replace("gw-…", key).replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
        exec(compile(code, "README.md", "exec"), {})  # raises on any non-2xx answer
        assert upstream.count >= 2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
