"""Fixtures of the proxy tests that call forward() in-process: the shared session closed, providers pointed."""

from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import pytest

from core.providers import provider_registry
from proxy.forwarding import forwarding_close
from tests.proxy.helpers import AZURE_VERSION, PROVIDER_KEYS


@pytest.fixture
async def closed_session() -> AsyncIterator[None]:
    """Each test runs on its own event loop: close that loop's shared fast-path session with it."""
    yield
    await forwarding_close()


@pytest.fixture
def providers_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mapping[str, str]], None]]:
    """Sets provider keys and bases (environment variables) and rebuilds the registry from them."""

    def point(env: Mapping[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        provider_registry.cache_clear()

    yield point
    provider_registry.cache_clear()


@pytest.fixture
def provider_upstream(upstream, providers_at):
    """Every built-in provider and a custom one at the test upstream, each base as an operator would write it
    (for forward() in-process; tests/gateway.py's `providers` serves the in-process gateway)."""
    providers_at(
        {
            "OPENAI_API_KEY": PROVIDER_KEYS["openai"],
            "OPENAI_API_BASE": f"{upstream.url}/v1",
            "ANTHROPIC_API_KEY": PROVIDER_KEYS["anthropic"],
            "ANTHROPIC_API_BASE": upstream.url,  # LiteLLM appends /v1/messages
            "GOOGLE_API_KEY": PROVIDER_KEYS["gemini"],
            "GOOGLE_API_BASE": upstream.url,  # a bare host: LiteLLM's own /v1beta/models/... path
            "COHERE_API_KEY": PROVIDER_KEYS["cohere"],
            "COHERE_API_BASE": upstream.url,  # /v2/chat appended
            "AZURE_API_KEY": PROVIDER_KEYS["azure"],
            "AZURE_API_BASE": upstream.url,  # LiteLLM appends /openai/deployments/<name>/...
            "AZURE_API_VERSION": AZURE_VERSION,
            "CUSTOM_LLM_PROVIDER": "custom",
            "CUSTOM_API_KEY": PROVIDER_KEYS["custom"],
            "CUSTOM_API_BASE": f"{upstream.url}/custom/v1",
        }
    )
    return upstream
