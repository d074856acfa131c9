"""Request heads are capped under `manage.py serve`: past GATEWAY_MAX_HEADER_BYTES a request gets 431
(414 for a request line alone that long) in its route's format, before the rest of it is read."""

import json
import os
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.chaos.processes import gateways, manage, spawn_gateway, wait_ready

# The server is under test, not the engine (its own SQLite file): run once per scripts/test run. Its start
# (LiteLLM's import) may take the chaos gateways' 180 s on a loaded machine.
pytestmark = [pytest.mark.engine_independent, pytest.mark.timeout(300)]

LIMIT = 16 * 1024  # set below the default (32 KiB), so the setting is what is tested


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("headers")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATABASE_", "REDIS_", "GATEWAY_"))}
    env |= {"DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "DJANGO_SECRET_KEY": "header-test"}
    env |= {"GATEWAY_MAX_HEADER_BYTES": str(LIMIT), "GATEWAY_SPOOL_DIR": str(folder / "spool")}
    manage("migrate", "--no-input", env=env)
    with gateways() as started:
        started.append(spawn_gateway(env=env, log=folder / "serve.log"))
        yield wait_ready(started[0]).url


def raw_exchange(url: str, head: bytes, *, more: int = 0) -> tuple[int, dict[str, str], bytes]:
    """Sends `head`, then up to `more` bytes of one endless header value while the server reads;
    returns the status, headers and body of its answer (read once it has closed the connection)."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < more:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed the connection before the rest was sent
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def endless_header(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ".encode()


def test_an_8_mb_authorization_header_is_refused_with_431_before_it_is_read_whole(server):
    status, headers, body = raw_exchange(server, endless_header("/v1/chat/completions"), more=8 * 1024 * 1024)
    assert status == 431
    assert headers["connection"] == "close" and headers["x-request-id"]
    error = json.loads(body)["error"]
    assert error["code"] == "request_header_fields_too_large" and str(LIMIT) in error["message"]


def test_the_431_answers_in_the_route_format(server):
    status, _, body = raw_exchange(server, endless_header("/v1/messages"), more=LIMIT * 2)
    assert status == 431
    assert json.loads(body)["type"] == "error" and json.loads(body)["error"]["type"] == "invalid_request_error"
    status, headers, body = raw_exchange(server, endless_header("/api/accounts/"), more=LIMIT * 2)
    assert (status, list(json.loads(body))) == (431, ["detail"])
    status, headers, body = raw_exchange(server, endless_header("/admin/"), more=LIMIT * 2)
    assert status == 431 and headers["content-type"].startswith("text/plain") and str(LIMIT).encode() in body


def test_a_request_line_over_the_limit_is_414(server):
    status, _, body = raw_exchange(server, b"GET /v1/models?q=" + b"a" * (LIMIT + 10))
    assert status == 414 and json.loads(body)["error"]["code"] == "uri_too_long"


def test_headers_under_the_limit_and_bodies_of_any_size_are_served(server):
    big_header = {"x-padding": "p" * (LIMIT - 1024)}
    with httpx.Client(base_url=server, timeout=30) as client:  # one kept-alive connection throughout
        assert client.get("/v1/models", headers=big_header).status_code == 401  # read: no key
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * (4 * LIMIT)}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 401  # the body is not the head
        for _ in range(3):  # each request of the connection counts its own head
            assert client.get("/v1/models", headers=big_header).status_code == 401
        refused = client.get("/v1/models", headers={"x-padding": "p" * (LIMIT + 1)})
    assert refused.status_code == 431
