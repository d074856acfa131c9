"""Wire shapes of deployments and route policies in the management API; credentials by provider name, never a secret."""

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from core.api_errors import StrictSerializer
from core.providers import credentials_provider
from routing.health import health_report

MAX_COUNT = 2_147_483_647


class HealthOutput(serializers.Serializer):  # type: ignore[type-arg]
    configured = serializers.BooleanField(
        help_text="False: its credentials name a provider with no key in the environment, so calls skip it."
    )
    cooling_until = serializers.DateTimeField(allow_null=True, help_text="Skipped by every instance until then.")
    recent_errors = serializers.ListField(child=serializers.DictField(), help_text="Newest first: `at`, `error`.")


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class DeploymentOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="Opaque identifier (an integer or an ObjectId, by storage engine).")
    public_name = serializers.CharField()
    provider = serializers.CharField()
    upstream_model = serializers.CharField()
    credentials = serializers.CharField(help_text="The configured provider whose key and base are used.")
    weight = serializers.IntegerField()
    rpm_capacity = serializers.IntegerField(allow_null=True)
    tpm_capacity = serializers.IntegerField(allow_null=True)
    enabled = serializers.BooleanField()
    health = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_health(self, obj: Any) -> dict[str, Any]:
        health = health_report(deployment_id=str(obj.pk))
        return {
            "configured": credentials_provider(obj.credentials) is not None,
            "cooling_until": _at(health.cooling_until).isoformat() if health.cooling_until else None,
            "recent_errors": [{"at": _at(at).isoformat(), "error": what} for at, what in health.recent_errors],
        }


class DeploymentUpdateInput(StrictSerializer):
    public_name = serializers.CharField(max_length=200, required=False)
    provider = serializers.CharField(max_length=64, required=False)
    upstream_model = serializers.CharField(max_length=200, required=False)
    credentials = serializers.CharField(max_length=64, required=False, allow_blank=True)
    weight = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, required=False)
    rpm_capacity = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, allow_null=True, required=False)
    tpm_capacity = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, allow_null=True, required=False)
    enabled = serializers.BooleanField(required=False)


class DeploymentCreateInput(DeploymentUpdateInput):
    public_name = serializers.CharField(max_length=200)
    provider = serializers.CharField(max_length=64)
    upstream_model = serializers.CharField(max_length=200)
    credentials = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Default: the provider's own credentials."
    )


class PolicyOutput(serializers.Serializer):  # type: ignore[type-arg]
    public_name = serializers.CharField()
    attempts = serializers.IntegerField()
    deadline_s = serializers.IntegerField()
    fallbacks = serializers.ListField(child=serializers.CharField())
    context_fallback = serializers.CharField()
    updated_at = serializers.DateTimeField()


class PolicyInput(StrictSerializer):
    """Omitted fields keep their current values (or the defaults, for a new policy)."""

    public_name = serializers.CharField(max_length=200)
    attempts = serializers.IntegerField(min_value=1, max_value=20, required=False)
    deadline_s = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, required=False)
    fallbacks = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=10, required=False, help_text="Other names, in order."
    )
    context_fallback = serializers.CharField(max_length=200, allow_blank=True, required=False)


__all__ = ["DeploymentCreateInput", "DeploymentOutput", "DeploymentUpdateInput", "HealthOutput", "PolicyInput"]
