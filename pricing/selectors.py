"""Reads of model prices and the cost calculation (exact Decimal)."""

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from django.db.models import Q, QuerySet

from core.cache import MISSING, cache_get_or_load, cache_peek
from core.money import MONEY_MAX, ZERO, ceil_usd, quantize_usd
from pricing.models import MODE_PRICES, ModelCost
from pricing.services import PRICE_CACHE

MILLION = Decimal(1_000_000)


# The service tiers with prices of their own (pricing.models.MODE_PRICES).
TIERS = ("priority", "flex")


@dataclass(frozen=True)
class Price:
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_write_per_mtok: Decimal | None
    cache_read_per_mtok: Decimal | None
    input_priority_per_mtok: Decimal | None = None
    output_priority_per_mtok: Decimal | None = None
    cache_read_priority_per_mtok: Decimal | None = None
    input_flex_per_mtok: Decimal | None = None
    output_flex_per_mtok: Decimal | None = None
    cache_read_flex_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None
    input_audio_per_mtok: Decimal | None = None
    output_audio_per_mtok: Decimal | None = None


@dataclass(frozen=True)
class TokenCounts:
    input_tokens: int = 0  # uncached
    output_tokens: int = 0  # reasoning included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    audio_input_tokens: int = 0  # part of input_tokens
    audio_output_tokens: int = 0  # part of output_tokens
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens
    service_tier: str = ""  # the tier that served the call ("priority", "flex"; anything else is standard)


@dataclass(frozen=True)
class Rates:
    """USD per million tokens of each kind, in one service tier."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal


def price_key(model: str) -> str:
    """Prices are found whatever the case and surrounding blanks of a name: `GPT-4o-mini ` is gpt-4o-mini."""
    return model.strip().lower()


def price_get(*, model: str) -> Price | None:
    """The price row for this model name, matched without regard to case (cached; unknown names cached as None)."""
    key = price_key(model)

    def load() -> Price | None:
        rows = list(
            ModelCost.objects.filter(model__iexact=key).values(
                "model",
                "input_per_mtok",
                "output_per_mtok",
                "cache_write_per_mtok",
                "cache_read_per_mtok",
                *MODE_PRICES,
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


def tier_of(value: str) -> str:
    """The tier a service_tier value names: "priority", "flex", or "" (standard: default, auto, scale, ...)."""
    value = value.strip().lower()
    return value if value in TIERS else ""


def standard_rates(price: Price) -> Rates:
    """A model without a cache price is charged its input price for those tokens: a provider that publishes
    no separate cache price bills them as ordinary input, and the gateway would rather not under-charge
    an account than invent a discount."""
    return Rates(
        input=price.input_per_mtok,
        output=price.output_per_mtok,
        cache_write=price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok,
        cache_read=price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok,
    )


def tier_rates(price: Price, tier: str) -> Rates | None:
    """The rates of a tier ("" standard); None when the model has no input and output price for it.

    In a tier, cache reads without a price of their own cost the tier's input price, and cache writes
    the dearer of the model's cache-write price and the tier's input price.
    """
    standard = standard_rates(price)
    if not tier:
        return standard
    tier_input = getattr(price, f"input_{tier}_per_mtok")
    tier_output = getattr(price, f"output_{tier}_per_mtok")
    if tier_input is None or tier_output is None:
        return None
    cache_read = getattr(price, f"cache_read_{tier}_per_mtok")
    return Rates(
        input=tier_input,
        output=tier_output,
        cache_write=max(standard.cache_write, tier_input),
        cache_read=tier_input if cache_read is None else cache_read,
    )


def _usd(total: Decimal) -> Decimal:
    """USD per million tokens × tokens → USD, capped at what the ledger keeps (never an overflow)."""
    if total > MONEY_MAX * MILLION:
        return MONEY_MAX
    return quantize_usd(total / MILLION)


def cost_calculate(*, tokens: TokenCounts, price: Price | None) -> Decimal:
    """USD for one call: input·in + output·out + cache_write·cw + cache_read·cr, ÷ 1e6, exact.

    The rates are the tier's that served the call (`tier_rates`; a tier without a price is billed at
    standard rates, and a flex call without flex prices at standard ones); audio tokens and one-hour
    cache writes at their own prices where the model has them, else as text and as 5-minute writes.
    An unpriced model costs nothing here; the usage row still keeps every token (admission refuses
    unpriced models, and modes without a price, to accounts with a budget unless
    GATEWAY_ALLOW_UNPRICED_MODELS is on). The result never exceeds MONEY_MAX, whatever the counts.
    """
    if price is None:
        return ZERO
    rates = tier_rates(price, tier_of(tokens.service_tier)) or standard_rates(price)
    audio_in = rates.input if price.input_audio_per_mtok is None else price.input_audio_per_mtok
    audio_out = rates.output if price.output_audio_per_mtok is None else price.output_audio_per_mtok
    write_1h = rates.cache_write if price.cache_write_1h_per_mtok is None else price.cache_write_1h_per_mtok
    with localcontext() as exact:
        exact.prec = 60  # counts and prices are bounded (usage_normalise.COUNT_LIMIT, 24 digits): nothing rounds
        total = (
            _split(tokens.input_tokens, tokens.audio_input_tokens, rates.input, audio_in)
            + _split(tokens.output_tokens, tokens.audio_output_tokens, rates.output, audio_out)
            + _split(tokens.cache_write_tokens, tokens.cache_write_1h_tokens, rates.cache_write, write_1h)
            + max(tokens.cache_read_tokens, 0) * rates.cache_read
        )
        return _usd(total)


def _split(tokens: int, part: int, rate: Decimal, part_rate: Decimal) -> Decimal:
    """`tokens` of which `part` is billed at a rate of its own (audio, one-hour writes)."""
    part = min(max(part, 0), max(tokens, 0))
    return (max(tokens, 0) - part) * rate + part * part_rate


@dataclass(frozen=True)
class Modes:
    """The billing modes a request may incur, for its worst case: the tiers that may serve it, audio, 1-hour cache."""

    tiers: tuple[str, ...] = ("",)
    audio_input: bool = False
    audio_output: bool = False
    cache_1h: bool = False


def cost_upper_bound(*, input_tokens: int, output_tokens: int, price: Price | None, modes: Modes = Modes()) -> Decimal:
    """The most `input_tokens` and `output_tokens` can cost, rounded up: every input token at the dearest
    input-side price the request can incur (input, cache writes and reads, one-hour writes and audio input
    when asked for), every output token at the dearest output price, over the tiers that may serve it."""
    if price is None:
        return ZERO
    candidates = [rates for rates in (tier_rates(price, tier) for tier in modes.tiers) if rates is not None]
    candidates = candidates or [standard_rates(price)]
    per_input = max(max(r.input, r.cache_write, r.cache_read) for r in candidates)
    per_output = max(r.output for r in candidates)
    if modes.cache_1h and price.cache_write_1h_per_mtok is not None:
        per_input = max(per_input, price.cache_write_1h_per_mtok)
    if modes.audio_input and price.input_audio_per_mtok is not None:
        per_input = max(per_input, price.input_audio_per_mtok)
    if modes.audio_output and price.output_audio_per_mtok is not None:
        per_output = max(per_output, price.output_audio_per_mtok)
    with localcontext() as exact:
        exact.prec = 60
        total = input_tokens * per_input + output_tokens * per_output
        if total > MONEY_MAX * MILLION:
            return total / MILLION  # beyond the ledger: admission refuses it (never rounded into range)
        return ceil_usd(total / MILLION)


def cost_list(*, search: str = "") -> QuerySet[ModelCost]:
    qs = ModelCost.objects.all()
    if search:
        qs = qs.filter(Q(model__icontains=search) | Q(provider__icontains=search))
    return qs.order_by("model")


def cost_get(*, model: str) -> ModelCost | None:
    """The price row for exactly this model name, uncached (for editing it)."""
    return ModelCost.objects.filter(model=model).first()
