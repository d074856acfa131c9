"""Wire shapes of usage rows, their filters and their totals in the management API."""

from typing import Any

from rest_framework import serializers

from core.api_errors import usd_field


class UsageFilter(serializers.Serializer):  # type: ignore[type-arg]
    since = serializers.DateTimeField(required=False, help_text="Rows created at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Rows created before this time.")
    model = serializers.CharField(max_length=200, required=False)
    key_id = serializers.CharField(max_length=64, required=False, help_text="Only rows made with this key.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


class UsageOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(help_text="The request id, as sent back in x-request-id.")
    user_id = serializers.CharField(source="account.user_id")
    key_id = serializers.CharField(source="api_key_id", allow_null=True)
    route = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    status_code = serializers.IntegerField()
    error_code = serializers.CharField()
    input_tokens = serializers.IntegerField(help_text="Uncached input tokens only.")
    output_tokens = serializers.IntegerField(help_text="Reasoning tokens included.")
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    cost_usd = usd_field()
    latency_ms = serializers.IntegerField()
    streamed = serializers.BooleanField()
    usage_estimated = serializers.BooleanField(
        help_text="The provider sent no usage, or counts past what the call could use: billed from an estimate."
    )
    upstream_model = serializers.CharField(help_text="Routed calls: the deployment's model, which priced the row.")
    attempt = serializers.IntegerField(help_text="Routed calls: the attempt's number, from 1.")
    attempt_of = serializers.UUIDField(
        allow_null=True, help_text="Routed calls: on an attempt that did not answer, the id of the row that did."
    )
    created_at = serializers.DateTimeField()


class UsageTotalsOutput(serializers.Serializer):  # type: ignore[type-arg]
    requests = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    cost_usd = usd_field()


class UsagePageOutput(serializers.Serializer):  # type: ignore[type-arg]
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous (newer) page, or null.")
    results = UsageOutput(many=True, help_text="Newest first.")
    totals = UsageTotalsOutput(help_text="Over every row matching the filters, not only this page.")
