"""load_pricing: the project's pricing.json over LiteLLM's bundled cost map, idempotent, one summary line,
and never over a price an operator set."""

import re
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from pricing.models import ModelCost
from pricing.sources import litellm_entries
from tests.engine import on_mongodb, skip_on_mongodb

pytestmark = pytest.mark.django_db
# A first load inserts ~3,000 prices and their history entries in bulk: ~7-10 s through the MongoDB
# stand-in (under a second on SQL). The first test runs two loads there; the others check the price
# mapping, which no engine changes.
slow_on_stand_in = skip_on_mongodb(
    "a full price load takes ~10 s on the stand-in; the engine is covered by the first test"
)


def run() -> str:
    out = StringIO()
    call_command("load_pricing", "--quiet", stdout=out)
    return out.getvalue()


@pytest.mark.timeout(600 if on_mongodb() else 120)
def test_it_fills_an_empty_database_then_finds_everything_unchanged():
    first = run()
    match = re.fullmatch(r"created (\d+), updated 0, unchanged 0, kept 0 set by an operator\n", first)
    assert match, first
    created = int(match.group(1))
    assert created > 1000
    assert ModelCost.objects.count() == created

    assert run() == f"created 0, updated 0, unchanged {created}, kept 0 set by an operator\n"


@slow_on_stand_in
def test_claude_and_gpt_models_have_cache_prices():
    run()
    claude = ModelCost.objects.get(model="claude-sonnet-4-5")
    assert (claude.input_per_mtok, claude.output_per_mtok) == (Decimal(3), Decimal(15))
    assert (claude.cache_write_per_mtok, claude.cache_read_per_mtok) == (Decimal("3.75"), Decimal("0.3"))
    assert claude.provider == "anthropic"
    assert claude.source == ModelCost.Source.OVERRIDE
    gpt = ModelCost.objects.get(model="gpt-4o")
    assert gpt.cache_read_per_mtok == Decimal("1.25")
    assert gpt.provider == "openai"
    cached = ModelCost.objects.filter(cache_read_per_mtok__isnull=False)
    assert cached.filter(model__startswith="claude-").count() > 5
    assert cached.filter(model__startswith="gpt-").count() > 5


@slow_on_stand_in
def test_litellm_prices_are_converted_to_per_million_exactly():
    run()
    entries = litellm_entries()
    # A model the project's overrides do not cover, so LiteLLM's own price must be in the table.
    entry = entries["claude-haiku-4-5-20251001"]
    cost = ModelCost.objects.get(model="claude-haiku-4-5-20251001")
    assert cost.source == ModelCost.Source.LITELLM
    assert cost.input_per_mtok == entry["input_per_mtok"] == Decimal(1)
    assert cost.cache_write_per_mtok == entry["cache_write_per_mtok"] == Decimal("1.25")


@slow_on_stand_in
def test_a_published_price_that_changed_is_refreshed_on_the_next_load():
    run()
    # As if LiteLLM's map had moved since the last load: the row is still the load's own.
    ModelCost.objects.filter(model="gpt-4o").update(input_per_mtok=Decimal(99))
    summary = run()
    assert re.fullmatch(r"created 0, updated 1, unchanged \d+, kept 0 set by an operator\n", summary), summary
    assert ModelCost.objects.get(model="gpt-4o").input_per_mtok == Decimal("2.5")


@slow_on_stand_in
def test_it_never_imports_litellm():
    # Importing litellm is the forwarding module's job (3 s, and it may try the network).
    loaded_before = "litellm" in sys.modules
    run()
    assert loaded_before or "litellm" not in sys.modules
