"""Management API for providers: which are configured and their API bases, never a key."""

from urllib.parse import urlsplit, urlunsplit

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_auth import ManagementAPIView
from core.api_errors import error_responses
from core.providers import configured_providers


class ProviderOutput(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    api_base = serializers.CharField(allow_null=True, help_text="Null: the provider's default endpoint.")


def public_base(api_base: str | None) -> str | None:
    """The base without user info, query or fragment: where an operator might have put a credential."""
    if not api_base:
        return None
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a malformed port: show the host alone
        netloc = host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ProviderList(ManagementAPIView):
    @extend_schema(tags=["providers"], responses={200: ProviderOutput(many=True), **error_responses()})
    def get(self, request: Request) -> Response:
        """Providers with a key configured, and the API base each is reached at."""
        rows = [{"name": name, "api_base": public_base(base)} for name, base in configured_providers()]
        return Response(ProviderOutput(rows, many=True).data)
