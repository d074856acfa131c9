"""/healthz and /readyz of a gateway served by `manage.py serve`, against a Redis and a PostgreSQL it may lose.

The gateway runs in a process of its own with its own Redis and PostgreSQL, which the
test stops and starts again; the suite's session Redis is never touched.
"""

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.deploy.servers import (
    PostgresServer,
    RedisServer,
    ServedGateway,
    gateway_env,
    postgres_server,
    served_gateway,
)

# The gateway under test has its own PostgreSQL and Redis, the same on every pass of scripts/test.
pytestmark = pytest.mark.engine_independent


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def gateway_process(
    redis_server: RedisServer, database: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedGateway]:
    # Python's warnings go to stderr as plain text, not through logging: silenced so every line must be JSON.
    env = gateway_env(REDIS_URL=redis_server.url, DATABASE_URL=database.url, LOG_FORMAT="json", PYTHONWARNINGS="ignore")
    with served_gateway(env, log_dir=tmp_path_factory.mktemp("readyz")) as gateway:
        yield gateway


def readiness(gateway: ServedGateway) -> httpx.Response:
    started = time.monotonic()
    response = gateway.get("/readyz")
    # A probe must answer quickly even with a dependency gone: 1 s per check, run side by side.
    assert time.monotonic() - started < 3, "readyz took too long"
    return response


def wait_for_status(gateway: ServedGateway, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = readiness(gateway)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_healthz_answers_without_touching_a_dependency(gateway_process, redis_server):
    redis_server.stop()
    try:
        response = gateway_process.get("/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    finally:
        redis_server.start()


def test_readyz_is_200_with_each_check_listed_when_everything_is_up(gateway_process):
    response = wait_for_status(gateway_process, 200)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["spool_depth"] is None or isinstance(body["spool_depth"], int)


def test_readyz_goes_503_when_redis_stops_and_200_when_it_is_back(gateway_process, redis_server):
    assert wait_for_status(gateway_process, 200).status_code == 200
    redis_server.stop()
    try:
        down = wait_for_status(gateway_process, 503, timeout=10)
        assert down.status_code == 503, down.text
        body = down.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["redis"]["ok"] is False and body["checks"]["database"]["ok"] is True
    finally:
        redis_server.start()
    back = wait_for_status(gateway_process, 200)
    assert back.status_code == 200, back.text


def test_readyz_goes_503_when_the_database_stops_and_200_when_it_is_back(gateway_process, database):
    assert wait_for_status(gateway_process, 200).status_code == 200
    database.stop()
    try:
        down = wait_for_status(gateway_process, 503, timeout=10)
        assert down.status_code == 503, down.text
        checks = down.json()["checks"]
        assert checks["database"]["ok"] is False and checks["redis"]["ok"] is True
        # Probes keep answering fast while the database is gone.
        assert readiness(gateway_process).status_code == 503
    finally:
        database.start()
    back = wait_for_status(gateway_process, 200, timeout=60)
    assert back.status_code == 200, back.text


def test_probes_need_no_credentials_and_leak_no_detail(gateway_process, database):
    body = gateway_process.get("/readyz").text
    assert str(database.port) not in body and "gateway@" not in body


def test_the_gateway_logs_json_lines(gateway_process):
    import json

    lines = [line for line in gateway_process.output().splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)  # every line, from every logger, uvicorn's included
        assert {"ts", "level", "logger", "message"} <= record.keys()
    # The failed checks of the tests before this one were logged too, as JSON.
    assert any(json.loads(line)["logger"] == "gateway_project.health" for line in lines)


def test_probes_and_metrics_skip_the_middleware_stack(gateway_server):
    # XFrameOptionsMiddleware marks every response of the full stack; the probes never see it.
    assert "x-frame-options" in httpx.get(f"{gateway_server.url}/admin/login/", timeout=10).headers
    for path in ("/healthz", "/readyz", "/metrics"):
        response = httpx.get(f"{gateway_server.url}{path}", timeout=10)
        assert response.status_code == 200, path
        assert "x-frame-options" not in response.headers, path
