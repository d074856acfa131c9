"""Wire shapes of API keys in the management API: never the hash, the raw key only once on creation."""

from rest_framework import serializers

from core.api_errors import StrictSerializer

# PositiveIntegerField's range on every SQL backend.
MAX_LIMIT = 2_147_483_647


class KeyOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="Opaque identifier (an integer or an ObjectId, by storage engine).")
    user_id = serializers.CharField(source="account.user_id")
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters, to tell keys apart.")
    is_active = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True)
    allowed_models = serializers.ListField(child=serializers.CharField(), help_text="Empty means every model.")
    rpm_limit = serializers.IntegerField(allow_null=True)
    tpm_limit = serializers.IntegerField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class KeyCreatedOutput(KeyOutput):
    key = serializers.CharField(source="raw_key", help_text="The secret itself: shown this once, never again.")


class KeyUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    expires_at = serializers.DateTimeField(allow_null=True, required=False)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=1000, required=False, help_text="Empty: every model."
    )
    rpm_limit = serializers.IntegerField(min_value=0, max_value=MAX_LIMIT, allow_null=True, required=False)
    tpm_limit = serializers.IntegerField(min_value=0, max_value=MAX_LIMIT, allow_null=True, required=False)
    is_active = serializers.BooleanField(required=False)


class KeyCreateInput(KeyUpdateInput):
    is_active = None  # type: ignore[assignment]  # a key is created active; deactivate it with PATCH
    user_id = serializers.CharField(max_length=128, help_text="The account that owns the key.")
