"""Fixtures for the chaos tests: gateway processes of their own, on the suite's database and Redis."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.processes import GatewayProcess, database_url, gateway_env, gateways, spawn_gateway, wait_ready
from tests.engine import on_mongodb


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Listed in docs/development.md: the fault tests start gateways on a database of their own and stop it (a
    # SQLite file made unwritable, a PostgreSQL server stopped); they have no MongoDB version yet. The
    # other chaos tests run on every engine.
    skip = pytest.mark.skip(reason="MongoDB: fault injection needs a SQL database the test can lock or stop")
    for item in items:
        if on_mongodb() and "tests/chaos/test_faults.py" in str(item.fspath):
            item.add_marker(skip)


StartGateways = Callable[..., list[GatewayProcess]]


def _suite_env(redis_url: str, upstream_url: str, spool_dir: Path) -> dict[str, str]:
    from django.db import connection

    # The test database's name, set once pytest-django has created it.
    return gateway_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_url,
        upstream_url=upstream_url,
        spool_dir=spool_dir,
    )


@pytest.fixture
def suite_gateway_env(transactional_db: Any, redis_backed: str, upstream: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for a gateway process on the suite's test database (committed rows: transactional_db)."""
    return _suite_env(redis_backed, upstream.url, tmp_path / "spool")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[StartGateways]:
    """`start(env, count=1, **extra)` starts gateway processes (at once) and waits until they answer.

    Every one still running is killed after the test.
    """
    with gateways() as started:

        def run(env: dict[str, str], count: int = 1, **extra: str) -> list[GatewayProcess]:
            new = [
                spawn_gateway(env={**env, **extra}, log=tmp_path / f"gateway-{len(started) + n}.log")
                for n in range(count)
            ]
            started.extend(new)
            return [wait_ready(gateway) for gateway in new]

        yield run


@pytest.fixture(scope="module")
def gateway_pair(
    django_db_setup: Any, redis_backed: str, upstream_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[GatewayProcess]]:
    """Two gateway processes on the suite's database, shared by a module's tests: starting one takes seconds."""
    folder = tmp_path_factory.mktemp("pair")
    env = _suite_env(redis_backed, upstream_server.url, folder / "spool")
    # Budget leases of four calls' worst case, so a budget of a few dozen calls is served from leases
    # first and from holds of each call's own at its end (test_concurrent_budget).
    env["GATEWAY_BUDGET_LEASE_CALLS"] = "4"
    with gateways() as started:
        started.extend(spawn_gateway(env=env, log=folder / f"gateway-{n}.log") for n in range(2))
        yield [wait_ready(gateway) for gateway in started]
