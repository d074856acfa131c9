"""serve: `manage.py serve --workers 2` answers as the gateway, from two worker processes."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# The command is under test, not the engine (its own SQLite file): run once per scripts/test run.
pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(330)  # migrate (up to 120 s) and the workers' start (up to 150 s) under a loaded machine
def test_serve_runs_the_gateway_with_several_workers(tmp_path):
    port = free_port()
    # The command is under test, not the engine: its own SQLite file whatever the suite runs on.
    env = {k: v for k, v in os.environ.items() if k != "MONGO_URI"}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}", "DJANGO_SECRET_KEY": "serve-test"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Each worker imports LiteLLM: seconds alone, a minute and more with the other lane of scripts/test beside it.
        deadline = time.monotonic() + 150
        while True:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
                time.sleep(0.2)
        assert login.status_code == 200
        refused = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={}, timeout=5)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert errors.count("Started server process") == 2  # two worker processes
