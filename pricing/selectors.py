"""Reads of model prices and the cost calculation (exact Decimal)."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from core.cache import MISSING, cache_get_or_load, cache_peek
from core.money import ZERO, ceil_usd, quantize_usd
from pricing.models import ModelCost
from pricing.services import PRICE_CACHE

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_write_per_mtok: Decimal | None
    cache_read_per_mtok: Decimal | None


@dataclass(frozen=True)
class TokenCounts:
    input_tokens: int = 0  # uncached
    output_tokens: int = 0  # reasoning included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def price_key(model: str) -> str:
    """Prices are found whatever the case and surrounding blanks of a name: `GPT-4o-mini ` is gpt-4o-mini."""
    return model.strip().lower()


def price_get(*, model: str) -> Price | None:
    """The price row for this model name, matched without regard to case (cached; unknown names cached as None)."""
    key = price_key(model)

    def load() -> Price | None:
        rows = list(
            ModelCost.objects.filter(model__iexact=key).values(
                "model", "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok"
            )[:5]
        )
        # Two rows differing only in case: the lower-case one (how providers spell their models) wins.
        rows.sort(key=lambda row: row["model"] != key)
        return Price(**rows[0]) if rows else None

    return cache_get_or_load(PRICE_CACHE, key, load)


def price_names(*, model: str, provider: str) -> tuple[str, str]:
    """The names a model's price is looked up by, in order: `provider/model` (how LiteLLM's map
    names most non-OpenAI models), then `model`."""
    model = price_key(model)
    bare = model.split("/", 1)[1] if model.startswith(f"{provider}/") else model
    return f"{provider}/{bare}", bare


def price_for(*, model: str, provider: str) -> Price | None:
    prefixed, bare = price_names(model=model, provider=provider)
    return price_get(model=prefixed) or price_get(model=bare)


def price_peek(*, model: str, provider: str) -> Any:
    """`price_for`'s answer from process memory alone, or MISSING when it would need a lookup."""
    prefixed_name, bare_name = price_names(model=model, provider=provider)
    prefixed = cache_peek(PRICE_CACHE, prefixed_name)
    if prefixed is MISSING or prefixed is not None:
        return prefixed
    return cache_peek(PRICE_CACHE, bare_name)


def cost_calculate(*, tokens: TokenCounts, price: Price | None) -> Decimal:
    """USD for one call: input·in + output·out + cache_write·cw + cache_read·cr, ÷ 1e6, exact.

    A model without a cache-write price is charged its input price for cache writes, and
    one without a cache-read price its input price for cache reads: a provider that
    publishes no separate cache price bills those tokens as ordinary input, and the
    gateway would rather not under-charge an account than invent a discount.
    An unpriced model costs nothing here; the usage row still keeps every token (admission
    refuses unpriced models to accounts with a budget unless GATEWAY_ALLOW_UNPRICED_MODELS is on).
    """
    if price is None:
        return ZERO
    cache_write = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    cache_read = price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    total = (
        tokens.input_tokens * price.input_per_mtok
        + tokens.output_tokens * price.output_per_mtok
        + tokens.cache_write_tokens * cache_write
        + tokens.cache_read_tokens * cache_read
    )
    return quantize_usd(total / MILLION)


def cost_upper_bound(*, input_tokens: int, output_tokens: int, price: Price | None) -> Decimal:
    """The most `input_tokens` and `output_tokens` can cost, rounded up: every input token at the
    dearest of the input, cache-write and cache-read prices (cache writes cost more than input)."""
    if price is None:
        return ZERO
    per_input = max(
        price.input_per_mtok,
        price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok,
        price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok,
    )
    return ceil_usd((input_tokens * per_input + output_tokens * price.output_per_mtok) / MILLION)


def cost_list(*, search: str = "") -> QuerySet[ModelCost]:
    qs = ModelCost.objects.all()
    if search:
        qs = qs.filter(Q(model__icontains=search) | Q(provider__icontains=search))
    return qs.order_by("model")


def cost_get(*, model: str) -> ModelCost | None:
    """The price row for exactly this model name, uncached (for editing it)."""
    return ModelCost.objects.filter(model=model).first()
