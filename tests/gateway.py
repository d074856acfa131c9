"""Pytest plugin: a real Redis, and the gateway served by uvicorn on a free loopback port."""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import uvicorn
from django.test import override_settings
from pytest_redis import factories

from core.backends import redis_caches, redis_channel_layers
from tests.upstream import loopback_socket

# Loaded as a plugin before Django is set up: project modules are imported inside fixtures.

redis_proc = factories.redis_proc(executable="/usr/bin/redis-server", port=None, timeout=30)  # type: ignore[arg-type]


def redis_settings(url: str) -> dict[str, Any]:
    return {"CACHES": redis_caches(url, key_prefix="gwtest"), "CHANNEL_LAYERS": redis_channel_layers(url)}


@pytest.fixture(scope="session", autouse=True)
def redis_backed(redis_proc: Any) -> Iterator[str]:
    """The whole suite runs with Redis as cache and channel layer, as production does."""
    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    with override_settings(**redis_settings(url)):
        yield url


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """The database is reset between tests; cached keys and prices must go with it."""
    from django.core.cache import cache

    from core.cache import database_breaker, l1
    from core.providers import provider_registry

    l1().clear()
    cache.clear()
    provider_registry.cache_clear()
    database_breaker.cache_clear()
    yield
    l1().clear()
    provider_registry.cache_clear()
    database_breaker.cache_clear()


@dataclass
class GatewayServer:
    url: str
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server

    def wait_client_gone(self, port: int, timeout: float = 30) -> None:
        """Waits until the gateway has seen the client on local `port` disconnect, and acted on it."""
        deadline = time.monotonic() + timeout

        def held() -> bool:
            peers = [getattr(c, "client", None) for c in list(self.server.server_state.connections)]
            return any(peer is not None and peer[1] == port for peer in peers)

        while held():
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway still holds the connection from port {port}")
            time.sleep(0.005)
        # uvicorn has handed the application its disconnect: cancelling the view takes a few turns of the loop.
        for _ in range(5):
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(timeout=timeout)

    def drain(self) -> None:
        """Waits until every accounting write the gateway has scheduled is done."""
        from proxy.accounting import accounting_drain

        asyncio.run_coroutine_threadsafe(accounting_drain(), self.loop).result(timeout=30)

    def usage(self, request_id: str) -> Any:
        from usage.models import UsageLog

        self.drain()
        return UsageLog.objects.select_related("account").get(id=request_id)


@pytest.fixture(scope="session")
def gateway_server(django_db_setup: Any, django_db_blocker: Any, redis_backed: str) -> Iterator[GatewayServer]:
    from gateway_project.asgi import application

    sock = loopback_socket()
    # Keep-alive past uvicorn's 5 s: on a loaded machine a test's client (in this process, behind the GIL) can
    # take that long to send its next request on a pooled connection, which uvicorn has closed meanwhile (a
    # ReadError on a POST, which no client retries: seen once in a burst of 400 calls in CI).
    config = uvicorn.Config(
        application, log_level="warning", lifespan="on", access_log=False, loop="asyncio", timeout_keep_alive=60
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    with django_db_blocker.unblock():
        thread = threading.Thread(target=run, daemon=True, name="gateway")
        thread.start()
        deadline = time.monotonic() + 180  # LiteLLM's import: seconds alone, a minute and more on a loaded machine
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        yield GatewayServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}", loop=loops[0], server=server)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def providers(upstream: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Points OpenAI, Anthropic and a custom provider at the test upstream, each with its own key."""
    from core.providers import provider_registry

    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-openai")
    monkeypatch.setenv("OPENAI_API_BASE", f"{upstream.url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-upstream-anthropic")
    monkeypatch.setenv("ANTHROPIC_API_BASE", upstream.url)
    monkeypatch.setenv("CUSTOM_LLM_PROVIDER", "custom")
    monkeypatch.setenv("CUSTOM_API_KEY", "sk-upstream-custom")
    monkeypatch.setenv("CUSTOM_API_BASE", f"{upstream.url}/custom/v1")
    provider_registry.cache_clear()
    return upstream


@pytest.fixture
def gateway(gateway_server: GatewayServer, transactional_db: Any, providers: Any) -> Iterator[GatewayServer]:
    yield gateway_server
    gateway_server.drain()  # no write may outlive its test's database


@dataclass
class Customer:
    account: Any
    key: str

    def refresh(self) -> Any:
        self.account.refresh_from_db()
        return self.account


@pytest.fixture
def make_customer(transactional_db: Any) -> Any:
    from budgets.services import account_open
    from keys.services import key_create

    counter = iter(range(1, 10_000))

    def make(budget: Decimal | None = None, **key_fields: Any) -> Customer:
        account = account_open(user_id=f"user-{next(counter)}", name="Test", budget_usd=budget)
        return Customer(account=account, key=key_create(account=account, name="test", **key_fields).raw)

    return make


@pytest.fixture
def customer(make_customer: Any) -> Customer:
    return make_customer()


__all__ = ["Customer", "GatewayServer", "contextlib"]
