"""Wire shapes of budgets, their windows and history, and teams in the management API."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from budgets.models import Budget
from budgets.selectors import budget_window
from budgets.windows import Period
from core.api_errors import StrictSerializer, usd_field

_PERIODS = [period.value for period in Period]


class WindowOutput(serializers.Serializer):  # type: ignore[type-arg]
    start = serializers.DateTimeField(allow_null=True, help_text="null for a lifetime budget.")
    end = serializers.DateTimeField(allow_null=True, help_text="When the window starts over; null: never.")
    spent_usd = usd_field()
    reserved_usd = usd_field(help_text="Held for calls in flight admitted in this window.")
    remaining_usd = usd_field()


class BudgetOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    level = serializers.ChoiceField(choices=[level.value for level in Budget.Level])
    owner = serializers.CharField(source="owner_ref", help_text="The key's id, the account's user_id, the team's slug.")
    name = serializers.CharField()
    label = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.label: the API's name
        help_text="The name, or the window in words ('monthly (Europe/Paris)')."
    )
    limit_usd = usd_field()
    period = serializers.ChoiceField(choices=_PERIODS)
    interval_seconds = serializers.IntegerField()
    timezone = serializers.CharField()
    anchor = serializers.IntegerField()
    thresholds = serializers.ListField(child=serializers.IntegerField())
    window = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(WindowOutput)
    def get_window(self, budget: Budget) -> dict[str, Any]:
        state = budget_window(budget=budget)
        return WindowOutput(state).data  # type: ignore[return-value]


class BudgetUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    limit_usd = usd_field(min_value=0, required=False)
    period = serializers.ChoiceField(choices=_PERIODS, required=False)
    interval_seconds = serializers.IntegerField(min_value=0, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    anchor = serializers.IntegerField(min_value=0, max_value=31, required=False)
    thresholds = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=1000), required=False)


class BudgetCreateInput(BudgetUpdateInput):
    level = serializers.ChoiceField(choices=[level.value for level in Budget.Level])
    owner = serializers.CharField(max_length=128, help_text="The key's id, the account's user_id, or the team's slug.")
    limit_usd = usd_field(min_value=0)


class PeriodOutput(serializers.Serializer):  # type: ignore[type-arg]
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    limit_usd = usd_field()
    spent_usd = usd_field()
    reserved_usd = usd_field(help_text="Still held by calls admitted in that window.")
    closed_at = serializers.DateTimeField()


class TeamOutput(serializers.Serializer):  # type: ignore[type-arg]
    slug = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.CharField(  # type: ignore[assignment]  # named like Field.parent: the API's name
        source="parent.slug", allow_null=True, help_text="The team above, if any."
    )
    accounts = serializers.SerializerMethodField(help_text="Its accounts' user_ids.")
    budgets = BudgetOutput(many=True, read_only=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_accounts(self, team: Any) -> list[str]:
        return [account.user_id for account in team.accounts.all()]


class TeamUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    parent = serializers.SlugField(  # type: ignore[assignment]  # named like Field.parent: the API's name
        max_length=100, allow_null=True, required=False
    )


class TeamCreateInput(TeamUpdateInput):
    slug = serializers.SlugField(max_length=100)
