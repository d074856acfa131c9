"""Wire shapes of model prices in the management API (USD per million tokens, decimal strings)."""

from rest_framework import serializers

from core.api_errors import StrictSerializer, usd_field
from pricing.models import ModelCost


class CostOutput(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.CharField()
    provider = serializers.CharField()
    input_per_mtok = usd_field()
    output_per_mtok = usd_field()
    cache_write_per_mtok = usd_field(allow_null=True, help_text="Null: cache writes are charged as input.")
    cache_read_per_mtok = usd_field(allow_null=True, help_text="Null: cache reads are charged as input.")
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
