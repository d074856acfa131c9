"""Writes to model prices: the operator's upsert (admin, API) and the price load, which never overwrites an operator."""

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import (
    Actor,
    audit_added,
    audit_added_many,
    audit_changed,
    audit_deleted,
    field_changes,
    system_actor,
)
from core.cache import cache_invalidate, cache_invalidate_many
from pricing.models import MODE_PRICES, ModelCost

PRICE_CACHE = "price"
Outcome = Literal["created", "updated", "unchanged"]
LoadOutcome = Literal["created", "updated", "unchanged", "kept"]
_PRICES = ("input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok", *MODE_PRICES)
# The sources a price load owns and may refresh; a price any operator set (MANUAL) is theirs until they give it back.
LOADED_SOURCES = frozenset({ModelCost.Source.LITELLM, ModelCost.Source.OVERRIDE})


def _check(prices: Mapping[str, Decimal | None]) -> None:
    for name, value in prices.items():
        if value is None and name in ("input_per_mtok", "output_per_mtok"):
            raise ValidationError(f"{name} is required.")
        if value is not None and (not value.is_finite() or value < 0):
            raise ValidationError(f"{name} must be a non-negative decimal.")


def _cache_key(model: str) -> str:
    return model.strip().lower()


def _wanted(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A price's stored fields (everything but its model name), checked."""
    wanted = {name: value for name, value in entry.items() if name != "model"}
    _check({name: wanted.get(name) for name in _PRICES})
    return wanted


@transaction.atomic
def cost_upsert(
    *,
    model: str,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    cache_write_per_mtok: Decimal | None = None,
    cache_read_per_mtok: Decimal | None = None,
    input_priority_per_mtok: Decimal | None = None,
    output_priority_per_mtok: Decimal | None = None,
    cache_read_priority_per_mtok: Decimal | None = None,
    input_flex_per_mtok: Decimal | None = None,
    output_flex_per_mtok: Decimal | None = None,
    cache_read_flex_per_mtok: Decimal | None = None,
    cache_write_1h_per_mtok: Decimal | None = None,
    input_audio_per_mtok: Decimal | None = None,
    output_audio_per_mtok: Decimal | None = None,
    provider: str = "",
    source: str = ModelCost.Source.MANUAL,
    actor: Actor | None = None,
) -> tuple[ModelCost, Outcome]:
    """Prices one model, recording the change in its history; a MANUAL price is left alone by `cost_load`.

    A billing mode's price left out (None) is cleared: no known price for that mode.
    """
    model = model.strip()
    if not model:
        raise ValidationError("model is required.")
    wanted = _wanted(
        {
            "input_per_mtok": input_per_mtok,
            "output_per_mtok": output_per_mtok,
            "cache_write_per_mtok": cache_write_per_mtok,
            "cache_read_per_mtok": cache_read_per_mtok,
            "input_priority_per_mtok": input_priority_per_mtok,
            "output_priority_per_mtok": output_priority_per_mtok,
            "cache_read_priority_per_mtok": cache_read_priority_per_mtok,
            "input_flex_per_mtok": input_flex_per_mtok,
            "output_flex_per_mtok": output_flex_per_mtok,
            "cache_read_flex_per_mtok": cache_read_flex_per_mtok,
            "cache_write_1h_per_mtok": cache_write_1h_per_mtok,
            "input_audio_per_mtok": input_audio_per_mtok,
            "output_audio_per_mtok": output_audio_per_mtok,
            "provider": provider,
            "source": source,
        }
    )
    actor = actor or system_actor(via="gateway")
    cost = ModelCost.objects.select_for_update().filter(model=model).first()
    if cost is None:
        cost = ModelCost.objects.create(model=model, **wanted)
        audit_added(actor=actor, obj=cost, values=wanted)
        outcome: Outcome = "created"
    else:
        changes = field_changes(cost, wanted)
        if not changes:
            return cost, "unchanged"
        for name in changes:
            setattr(cost, name, wanted[name])
        cost.save(update_fields=[*changes, "updated_at"])
        audit_changed(actor=actor, obj=cost, changes=changes)
        outcome = "updated"
    transaction.on_commit(lambda: cache_invalidate(PRICE_CACHE, _cache_key(model)))
    return cost, outcome


def cost_delete(*, cost: ModelCost, actor: Actor | None = None) -> None:
    model = cost.model
    with transaction.atomic():
        audit_deleted(actor=actor or system_actor(via="gateway"), obj=cost, values={"source": cost.source})
        cost.delete()
        transaction.on_commit(lambda: cache_invalidate(PRICE_CACHE, _cache_key(model)))


def cost_load(*, entries: Iterable[Mapping[str, Any]], actor: Actor) -> Counter[LoadOutcome]:
    """Loads published prices (`pricing.sources`) in one transaction, in bulk; never touches an operator's price.

    A model not yet priced is created; one whose price came from a load (LiteLLM's map or the
    project's overrides) is refreshed; one an operator priced (MANUAL) is kept as it is and
    counted as "kept". One read of the table, one bulk insert, one conditional update per
    price that actually changed (a few after a LiteLLM upgrade, none on a repeat load).
    """
    wanted = {str(entry["model"]).strip(): _wanted(entry) for entry in entries}
    counts: Counter[LoadOutcome] = Counter({"created": 0, "updated": 0, "unchanged": 0, "kept": 0})
    with transaction.atomic():
        current = {cost.model: cost for cost in ModelCost.objects.all()}
        new = [ModelCost(model=model, **fields) for model, fields in wanted.items() if model not in current]
        touched = [cost.model for cost in new]
        for model, fields in wanted.items():
            cost = current.get(model)
            if cost is None:
                continue
            outcome = _refresh(cost, fields, actor) if cost.source in LOADED_SOURCES else "kept"
            counts[outcome] += 1
            if outcome == "updated":
                touched.append(model)
        _create(new, wanted, actor)
        counts["created"] = len(new)
        transaction.on_commit(lambda: cache_invalidate_many(PRICE_CACHE, sorted({_cache_key(m) for m in touched})))
    return counts


def _refresh(cost: ModelCost, fields: Mapping[str, Any], actor: Actor) -> LoadOutcome:
    changes = field_changes(cost, fields)
    if not changes:
        return "unchanged"
    # Conditional: an operator who priced this model since the table was read keeps their price.
    updated = ModelCost.objects.filter(pk=cost.pk, source__in=LOADED_SOURCES).update(
        **{name: fields[name] for name in changes}, updated_at=timezone.now()
    )
    if not updated:
        return "kept"
    audit_changed(actor=actor, obj=cost, changes=changes)
    return "updated"


def _create(new: list[ModelCost], wanted: Mapping[str, Mapping[str, Any]], actor: Actor) -> None:
    ModelCost.objects.bulk_create(new, batch_size=500)
    if any(cost.pk is None for cost in new):  # an engine that does not return the new ids
        ids = dict(ModelCost.objects.values_list("model", "pk"))
        for cost in new:
            cost.pk = ids[cost.model]
    audit_added_many(actor=actor, objects=[(cost, wanted[cost.model]) for cost in new])


def cost_release(*, cost: ModelCost, entry: Mapping[str, Any], actor: Actor) -> ModelCost:
    """Hands an operator's price back to the price load: the published `entry` now, kept current by each load."""
    cost, _ = cost_upsert(model=cost.model, actor=actor, **_wanted(entry))
    return cost
