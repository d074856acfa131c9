"""Wire shapes of accounts in the management API."""

from rest_framework import serializers

from core.api_errors import StrictSerializer, usd_field

# Addressable as one URL path segment: no "/", and not "." or "..".
USER_ID_PATTERN = r"^(?!\.{1,2}$)[^/]+$"


class AccountOutput(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    team = serializers.CharField(source="team.slug", allow_null=True, help_text="The team's slug, if in one.")
    budget_usd = usd_field(
        allow_null=True, help_text="The account's lifetime budget in USD; null means none (its other budgets: budgets)."
    )
    spent_usd = usd_field(help_text="Everything the account ever spent.")
    reserved_usd = usd_field(help_text="Held for requests in flight.")
    remaining_usd = usd_field(
        allow_null=True,
        help_text="What is left of the lifetime budget (its limit − spend − holds); null without one.",
    )
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AccountUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    email = serializers.EmailField(max_length=254, allow_blank=True, required=False)
    budget_usd = usd_field(
        min_value=0, allow_null=True, required=False, help_text="The lifetime budget; null removes it (unlimited)."
    )
    is_active = serializers.BooleanField(required=False)
    team = serializers.SlugField(
        max_length=100, allow_null=True, required=False, help_text="The team's slug; null takes it out of its team."
    )


class AccountCreateInput(AccountUpdateInput):
    user_id = serializers.RegexField(USER_ID_PATTERN, max_length=128)
