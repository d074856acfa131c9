"""LiteLLM, as the forwarding module imports it, never fetches configuration from the internet."""

import http.server
import os
import subprocess
import sys
import threading

import pytest

# A subprocess that imports LiteLLM; it opens no database.
pytestmark = pytest.mark.engine_independent

CODE = """
import os
from proxy.forwarding import litellm_module
litellm_module()
assert os.environ["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] == "True"
from litellm import anthropic_beta_headers_manager
assert anthropic_beta_headers_manager._load_beta_headers_config()  # the bundled copy
"""


def test_anthropic_beta_headers_come_from_the_bundled_copy():
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"}
    # Where LiteLLM would fetch the config from: a loopback recorder instead of GitHub.
    env["LITELLM_ANTHROPIC_BETA_HEADERS_URL"] = f"http://127.0.0.1:{server.server_address[1]}/beta.json"
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    try:
        subprocess.run([sys.executable, "-c", CODE], check=True, cwd=".", env=env, timeout=120)
    finally:
        server.shutdown()
    assert hits == []
