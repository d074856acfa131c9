"""Wire shapes of usage rows, their filters, their totals and spend reports in the management API."""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from rest_framework import serializers

from core.api_errors import usd_field
from usage.reports import GROUPS, PERIODS

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


class MomentField(serializers.DateTimeField):
    """An ISO 8601 time, or a date (its midnight, UTC); a time without a zone is UTC."""

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
        return super().to_internal_value(value)  # type: ignore[no-any-return]


class QueryFilter(serializers.Serializer):  # type: ignore[type-arg]
    """Query parameters, strictly: one the route does not know is a 400 naming it, not silently ignored."""

    # Parameters a paginated route reads itself, besides the filters.
    paging: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields and name not in self.paging)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


def _since(**kwargs: Any) -> MomentField:
    return MomentField(
        required=False, help_text="At or after this time (ISO 8601; a date is its midnight UTC).", **kwargs
    )


def _until() -> MomentField:
    return MomentField(required=False, help_text="Before this time (ISO 8601; a date is its midnight UTC).")


def _model() -> serializers.CharField:
    return serializers.CharField(
        max_length=200, required=False, help_text="A model name, matched as prices are (case and blanks aside)."
    )


class UsageFilter(QueryFilter):
    paging: tuple[str, ...] = ("cursor", "page_size")
    since = _since()
    until = _until()
    model = _model()
    key_id = serializers.CharField(max_length=64, required=False, help_text="Only rows made with this key.")


class StatusClassField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=STATUS_CLASSES, required=False, help_text="2xx, 3xx, 4xx or 5xx.", **kwargs)

    def to_internal_value(self, data: Any) -> Any:  # the class's digit: 4 for 4xx
        return int(str(super().to_internal_value(data))[0])


class UsageListFilter(UsageFilter):
    user_id = serializers.CharField(max_length=128, required=False, help_text="Only this account's rows.")
    provider = serializers.CharField(max_length=64, required=False)
    route = serializers.CharField(max_length=64, required=False, help_text="e.g. chat.completions, messages.")
    status = StatusClassField()


class GroupByField(serializers.CharField):
    """A comma-separated list of report dimensions, each at most once."""

    def to_internal_value(self, data: Any) -> Any:  # a tuple of names
        names = [name.strip() for name in str(super().to_internal_value(data)).split(",") if name.strip()]
        unknown = [name for name in names if name not in GROUPS]
        if unknown:
            raise serializers.ValidationError(f"Unknown: {', '.join(unknown)}; choose from {', '.join(GROUPS)}.")
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Each name at most once.")
        return tuple(names)


class SpendReportFilter(UsageListFilter):
    paging = ("limit", "offset", "format")
    team = serializers.SlugField(
        max_length=100, required=False, help_text="Only accounts in this team or a team inside it (now)."
    )
    since = _since()
    group_by = GroupByField(
        required=False,
        allow_blank=True,
        help_text=f"Comma-separated, any of: {', '.join(GROUPS)}. Empty: one total per period.",
    )
    period = serializers.ChoiceField(
        choices=PERIODS, required=False, help_text="Also group by UTC day, week (from Monday) or month."
    )


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


class SpendGroupOutput(UsageTotalsOutput):
    period = serializers.DateField(required=False, help_text="The first day of the group's day, week or month.")
    team = serializers.CharField(required=False, allow_null=True, help_text="The team's slug; null: no team.")
    user_id = serializers.CharField(required=False)
    key_id = serializers.CharField(required=False, help_text="Null for rows whose key was deleted.")
    key_prefix = serializers.CharField(required=False)
    model = serializers.CharField(required=False, help_text="As prices key it: lower case, no surrounding blanks.")
    provider = serializers.CharField(required=False)
    route = serializers.CharField(required=False)
    status = serializers.CharField(required=False, help_text="2xx, 4xx, …")


class SpendReportOutput(serializers.Serializer):  # type: ignore[type-arg]
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True, help_text="Null: up to now.")
    group_by = serializers.ListField(child=serializers.CharField())
    period = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="Groups in the whole report.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SpendGroupOutput(many=True, help_text="By period, then by cost, highest first.")
    totals = UsageTotalsOutput(help_text="Over the whole report, not only this page.")
