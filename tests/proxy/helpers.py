"""Shared helpers for end-to-end proxy tests: prices and expected costs computed by hand."""

from decimal import Decimal

from pricing.services import cost_upsert

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
