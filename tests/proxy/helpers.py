"""Shared helpers for proxy tests: prices and expected costs computed by hand, the providers' test keys and models."""

from decimal import Decimal

from pricing.services import cost_upsert
from proxy.request_params import Route

# The keys and models of the `provider_upstream` fixture (tests/proxy/conftest.py), every provider at the test upstream.
PROVIDER_KEYS = {
    "openai": "sk-openai-test",
    "anthropic": "sk-ant-test",
    "gemini": "gemini-test-key",
    "cohere": "cohere-test-key",
    "azure": "azure-test-key",
    "custom": "sk-custom-test",
}
PROVIDER_MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "cohere": "command-r",
    "azure": "azure/my-deployment",
    "custom": "custom/my-model",
}
AZURE_VERSION = "2024-10-21"
# Every cross-format pair the gateway translates (proxy.translated's table).
TRANSLATED = [
    (Route.CHAT, "anthropic"),
    (Route.CHAT, "gemini"),
    (Route.CHAT, "cohere"),
    (Route.CHAT, "azure"),
    (Route.MESSAGES, "gemini"),
    (Route.MESSAGES, "cohere"),
    (Route.MESSAGES, "azure"),
    (Route.MESSAGES, "openai"),
    (Route.RESPONSES, "anthropic"),
    (Route.RESPONSES, "gemini"),
    (Route.RESPONSES, "cohere"),
]
PRICES = {
    "input": Decimal("2.50"),
    "output": Decimal("10.00"),
    "cache_write": Decimal("3.125"),
    "cache_read": Decimal("1.25"),
}


def set_price(model: str, provider: str = "", **modes: Decimal) -> None:
    """PRICES for `model`, and any billing mode's price given (`input_priority_per_mtok=...`)."""
    cost_upsert(
        model=model,
        provider=provider,
        input_per_mtok=PRICES["input"],
        output_per_mtok=PRICES["output"],
        cache_write_per_mtok=PRICES["cache_write"],
        cache_read_per_mtok=PRICES["cache_read"],
        **modes,
    )


def expected_cost(*, input: int, output: int, cache_read: int = 0, cache_write: int = 0) -> Decimal:
    million = Decimal(1_000_000)
    return (
        input * PRICES["input"] / million
        + output * PRICES["output"] / million
        + cache_write * PRICES["cache_write"] / million
        + cache_read * PRICES["cache_read"] / million
    ).quantize(Decimal("1e-10"))
