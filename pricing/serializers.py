"""Wire shapes of model prices in the management API (USD per million tokens, decimal strings)."""

from rest_framework import serializers

from core.api_errors import StrictSerializer, usd_field
from pricing.models import ModelCost

# What an empty price of a billing mode means (pricing.selectors.cost_calculate, proxy.billing_modes).
PRIORITY = "service_tier 'priority'. Null: refused to accounts with a budget; billed standard to the others."
FLEX = "service_tier 'flex'. Null: flex calls are billed at standard prices."
ONE_HOUR = "Anthropic cache writes with ttl '1h'. Null: refused to accounts with a budget; else cache-write price."
AUDIO = "Audio tokens. Null: refused to accounts with a budget; billed as text to the others."


class CostOutput(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.CharField()
    provider = serializers.CharField()
    input_per_mtok = usd_field()
    output_per_mtok = usd_field()
    cache_write_per_mtok = usd_field(allow_null=True, help_text="Null: cache writes are charged as input.")
    cache_read_per_mtok = usd_field(allow_null=True, help_text="Null: cache reads are charged as input.")
    input_priority_per_mtok = usd_field(allow_null=True, help_text=PRIORITY)
    output_priority_per_mtok = usd_field(allow_null=True, help_text=PRIORITY)
    cache_read_priority_per_mtok = usd_field(
        allow_null=True, help_text="Null: priority cache reads cost priority input."
    )
    input_flex_per_mtok = usd_field(allow_null=True, help_text=FLEX)
    output_flex_per_mtok = usd_field(allow_null=True, help_text=FLEX)
    cache_read_flex_per_mtok = usd_field(allow_null=True, help_text="Null: flex cache reads cost flex input.")
    cache_write_1h_per_mtok = usd_field(allow_null=True, help_text=ONE_HOUR)
    input_audio_per_mtok = usd_field(allow_null=True, help_text=AUDIO)
    output_audio_per_mtok = usd_field(allow_null=True, help_text=AUDIO)
    # The stubs type Field.source (the attribute path), which a field named "source" shadows on the class.
    source = serializers.ChoiceField(choices=ModelCost.Source.choices)  # type: ignore[assignment]
    updated_at = serializers.DateTimeField()


class CostInput(StrictSerializer):
    """Omitted fields keep their current values when the model is already priced; null clears a cache price."""

    model = serializers.CharField(max_length=200)
    provider = serializers.CharField(max_length=64, allow_blank=True, required=False)
    input_per_mtok = usd_field(min_value=0, required=False, help_text="Required for a new model.")
    output_per_mtok = usd_field(min_value=0, required=False, help_text="Required for a new model.")
    cache_write_per_mtok = usd_field(min_value=0, allow_null=True, required=False)
    cache_read_per_mtok = usd_field(min_value=0, allow_null=True, required=False)
    input_priority_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=PRIORITY)
    output_priority_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=PRIORITY)
    cache_read_priority_per_mtok = usd_field(min_value=0, allow_null=True, required=False)
    input_flex_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=FLEX)
    output_flex_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=FLEX)
    cache_read_flex_per_mtok = usd_field(min_value=0, allow_null=True, required=False)
    cache_write_1h_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=ONE_HOUR)
    input_audio_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=AUDIO)
    output_audio_per_mtok = usd_field(min_value=0, allow_null=True, required=False, help_text=AUDIO)
