"""Where prices come from: the project's pricing.json and LiteLLM's bundled cost map, as `cost_upsert` kwargs."""

import json
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from core.money import quantize_usd
from pricing.models import ModelCost

OVERRIDES_PATH = Path(__file__).resolve().parent / "data" / "pricing.json"
MILLION = Decimal(1_000_000)
# Models a gateway can send text to; image, audio, embedding and rerank entries are priced otherwise.
_TEXT_MODES = frozenset({"chat", "responses", "completion"})
_LITELLM_FIELDS = {
    "input_per_mtok": "input_cost_per_token",
    "output_per_mtok": "output_cost_per_token",
    "cache_write_per_mtok": "cache_creation_input_token_cost",
    "cache_read_per_mtok": "cache_read_input_token_cost",
}
# The billing modes' prices (pricing.selectors.MODE_PRICES), where LiteLLM's map has them.
_LITELLM_MODE_FIELDS = {
    "input_priority_per_mtok": "input_cost_per_token_priority",
    "output_priority_per_mtok": "output_cost_per_token_priority",
    "cache_read_priority_per_mtok": "cache_read_input_token_cost_priority",
    "input_flex_per_mtok": "input_cost_per_token_flex",
    "output_flex_per_mtok": "output_cost_per_token_flex",
    "cache_read_flex_per_mtok": "cache_read_input_token_cost_flex",
    "cache_write_1h_per_mtok": "cache_creation_input_token_cost_above_1hr",
    "input_audio_per_mtok": "input_cost_per_audio_token",
    "output_audio_per_mtok": "output_cost_per_audio_token",
}


def _per_mtok(per_token: Any) -> Decimal | None:
    """Per-token float → per-million Decimal via its shortest repr (exact, no binary noise added).

    Quantized to the column's 10 places: a few LiteLLM entries carry float noise past that
    (15.000020000000002); unrounded they would never compare equal to what the database holds.
    """
    if per_token is None or isinstance(per_token, bool) or not isinstance(per_token, int | float):
        return None
    return quantize_usd(Decimal(str(per_token)) * MILLION)


def _litellm_cost_map_path() -> Path:
    # find_spec only locates the package; importlib.resources.files() would import litellm,
    # which takes ~3 s and, unless told otherwise, tries to download the map from GitHub.
    spec = find_spec("litellm")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("litellm is not installed: its bundled cost map is missing.")
    return Path(spec.origin).parent / "model_prices_and_context_window_backup.json"


def litellm_entries() -> dict[str, dict[str, Any]]:
    """LiteLLM's bundled cost map, read as a data file: importing litellm is the forwarding module's job."""
    text = _litellm_cost_map_path().read_text("utf-8")
    entries: dict[str, dict[str, Any]] = {}
    for model, info in json.loads(text).items():
        if not isinstance(info, dict) or info.get("mode") not in _TEXT_MODES:
            continue
        fields = {**_LITELLM_FIELDS, **_LITELLM_MODE_FIELDS}
        prices = {ours: _per_mtok(info.get(theirs)) for ours, theirs in fields.items()}
        if prices["input_per_mtok"] is None or prices["output_per_mtok"] is None:
            continue
        provider = info.get("litellm_provider")
        entries[model] = {
            "model": model,
            "provider": provider if isinstance(provider, str) else "",
            "source": ModelCost.Source.LITELLM,
            **prices,
        }
    return entries


def override_entries(path: Path = OVERRIDES_PATH) -> dict[str, dict[str, Any]]:
    """The project's curated prices (decimal strings, USD per 1M tokens)."""
    models = json.loads(path.read_text("utf-8"))["models"]
    return {
        model: {
            "model": model,
            "provider": row.get("provider", ""),
            "source": ModelCost.Source.OVERRIDE,
            "input_per_mtok": Decimal(row["input"]),
            "output_per_mtok": Decimal(row["output"]),
            "cache_write_per_mtok": Decimal(row["cache_write"]) if row.get("cache_write") is not None else None,
            "cache_read_per_mtok": Decimal(row["cache_read"]) if row.get("cache_read") is not None else None,
            **_override_modes(row),
        }
        for model, row in models.items()
    }


def _override_modes(row: dict[str, Any]) -> dict[str, Decimal]:
    """Billing modes' prices an override names (`input_priority`, `cache_write_1h`: the columns less `_per_mtok`)."""
    named = {column: row.get(column.removesuffix("_per_mtok")) for column in _LITELLM_MODE_FIELDS}
    return {column: Decimal(value) for column, value in named.items() if value is not None}


def pricing_entries() -> list[dict[str, Any]]:
    """Every price to load, overrides winning over LiteLLM's, in model order.

    An override names a model's base prices; the billing modes' prices it leaves out are LiteLLM's (a
    project price for gpt-4o-mini keeps LiteLLM's priority and flex prices for it).
    """
    litellm = litellm_entries()
    merged = dict(litellm)
    for model, entry in override_entries().items():
        modes = {column: (litellm.get(model) or {}).get(column) for column in _LITELLM_MODE_FIELDS}
        merged[model] = {**modes, **entry}
    return [merged[model] for model in sorted(merged)]
