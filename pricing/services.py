"""Writes to model prices: one idempotent upsert used by the admin, the API and load_pricing."""

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction

from core.cache import cache_invalidate
from pricing.models import ModelCost

PRICE_CACHE = "price"
Outcome = Literal["created", "updated", "unchanged"]
_PRICES = ("input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok")


def _check(prices: dict[str, Decimal | None]) -> None:
    for name, value in prices.items():
        if value is None and name in ("input_per_mtok", "output_per_mtok"):
            raise ValidationError(f"{name} is required.")
        if value is not None and (not value.is_finite() or value < 0):
            raise ValidationError(f"{name} must be a non-negative decimal.")


@transaction.atomic
def cost_upsert(
    *,
    model: str,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    cache_write_per_mtok: Decimal | None = None,
    cache_read_per_mtok: Decimal | None = None,
    provider: str = "",
    source: str = ModelCost.Source.MANUAL,
) -> tuple[ModelCost, Outcome]:
    model = model.strip()
    if not model:
        raise ValidationError("model is required.")
    prices = dict(
        zip(_PRICES, (input_per_mtok, output_per_mtok, cache_write_per_mtok, cache_read_per_mtok), strict=True)
    )
    _check(prices)
    wanted: dict[str, object] = {**prices, "provider": provider, "source": source}
    cost = ModelCost.objects.select_for_update().filter(model=model).first()
    if cost is None:
        cost = ModelCost.objects.create(model=model, **wanted)
        outcome: Outcome = "created"
    else:
        changed = [name for name, value in wanted.items() if getattr(cost, name) != value]
        if not changed:
            return cost, "unchanged"
        for name in changed:
            setattr(cost, name, wanted[name])
        cost.save(update_fields=[*changed, "updated_at"])
        outcome = "updated"
    transaction.on_commit(lambda: cache_invalidate(PRICE_CACHE, model.strip().lower()))
    return cost, outcome


def cost_delete(*, cost: ModelCost) -> None:
    model = cost.model
    cost.delete()
    transaction.on_commit(lambda: cache_invalidate(PRICE_CACHE, model.strip().lower()))


def cost_load(*, entries: Iterable[Mapping[str, Any]]) -> Counter[Outcome]:
    """Upserts many prices in ONE transaction (SQLite commits per statement otherwise: ~100x slower)."""
    counts: Counter[Outcome] = Counter({"created": 0, "updated": 0, "unchanged": 0})
    with transaction.atomic():
        for entry in entries:
            _, outcome = cost_upsert(**entry)
            counts[outcome] += 1
    return counts
