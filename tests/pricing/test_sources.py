"""Where prices come from: the billing modes' prices are read from LiteLLM's map, and kept under an override."""

from decimal import Decimal

import pytest

from pricing.selectors import MODE_PRICES
from pricing.sources import override_entries, pricing_entries

# Reads the bundled data files only.
pytestmark = pytest.mark.engine_independent


def entry(model: str) -> dict:
    return next(item for item in pricing_entries() if item["model"] == model)


def test_every_entry_names_every_billing_mode_price():
    assert all(set(MODE_PRICES) <= set(item) for item in pricing_entries())


def test_priority_and_flex_prices_come_from_litellms_map():
    gpt5 = entry("gpt-5")
    assert gpt5["source"] == "override"  # the project's own base prices...
    assert gpt5["input_per_mtok"] == Decimal("1.25")
    # ...and LiteLLM's prices for the tiers, which the override leaves out.
    assert (gpt5["input_priority_per_mtok"], gpt5["output_priority_per_mtok"]) == (Decimal("2.5"), Decimal("20"))
    assert gpt5["cache_read_priority_per_mtok"] == Decimal("0.25")
    assert (gpt5["input_flex_per_mtok"], gpt5["output_flex_per_mtok"]) == (Decimal("0.625"), Decimal("5"))


def test_one_hour_cache_writes_and_audio_come_from_litellms_map():
    assert entry("claude-sonnet-4-5")["cache_write_1h_per_mtok"] == Decimal("6")
    audio = entry("gpt-4o-audio-preview-2024-12-17")
    assert (audio["input_audio_per_mtok"], audio["output_audio_per_mtok"]) == (Decimal("40"), Decimal("80"))


def test_a_model_without_them_has_none():
    assert all(entry("gpt-4o-mini")[name] is None for name in ("cache_write_1h_per_mtok", "output_audio_per_mtok"))


def test_an_override_may_name_them(tmp_path):
    path = tmp_path / "pricing.json"
    path.write_text('{"models": {"m": {"input": "1", "output": "2", "input_priority": "3", "cache_write_1h": "4"}}}')
    (item,) = override_entries(path).values()
    assert (item["input_priority_per_mtok"], item["cache_write_1h_per_mtok"]) == (Decimal(3), Decimal(4))
