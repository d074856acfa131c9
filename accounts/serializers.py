"""Wire shapes of accounts in the management API."""

from rest_framework import serializers

from core.api_errors import StrictSerializer, usd_field

# Addressable as one URL path segment: no "/", and not "." or "..".
USER_ID_PATTERN = r"^(?!\.{1,2}$)[^/]+$"


class AccountOutput(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    budget_usd = usd_field(allow_null=True, help_text="Spending limit in USD; null means unlimited.")
    spent_usd = usd_field()
    reserved_usd = usd_field(help_text="Held for requests in flight.")
    remaining_usd = usd_field(allow_null=True, help_text="budget_usd − spent_usd − reserved_usd; null when unlimited.")
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AccountUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    email = serializers.EmailField(max_length=254, allow_blank=True, required=False)
    budget_usd = usd_field(min_value=0, allow_null=True, required=False)
    is_active = serializers.BooleanField(required=False)


class AccountCreateInput(AccountUpdateInput):
    user_id = serializers.RegexField(USER_ID_PATTERN, max_length=128)
