"""GET /api/audit/: the change history (admin, API and manage.py alike), newest first, by object or by operator."""

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, Team
from alerts.models import Delivery, Destination
from budgets.models import Budget
from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, query_text
from core.audit import audit_details
from keys.models import APIKey
from pricing.models import ModelCost
from routing.models import Deployment, RoutePolicy

# The name of each audited kind in `?object=<kind>/<identifier>`, and the field the API names its objects by.
KINDS: dict[str, tuple[type[models.Model], str]] = {
    "account": (Account, "user_id"),
    "key": (APIKey, "pk"),
    "cost": (ModelCost, "model"),
    "deployment": (Deployment, "pk"),
    "policy": (RoutePolicy, "public_name"),
    "budget": (Budget, "pk"),
    "team": (Team, "slug"),
    "alert-destination": (Destination, "pk"),
    "alert-delivery": (Delivery, "pk"),
}
_ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


class AuditEntry(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="pk")
    at = serializers.DateTimeField(source="action_time")
    actor = serializers.CharField(source="user.username", help_text="`system.*`: ADMIN_API_KEY, manage.py, …")
    via = serializers.SerializerMethodField(help_text="admin, api, cli or gateway; empty for older admin entries.")
    action = serializers.SerializerMethodField(help_text="added, changed or deleted.")
    object_type = serializers.SerializerMethodField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    changes = serializers.SerializerMethodField(
        help_text="field → [old, new] for a change; field → value for an addition or a deletion."
    )
    message = serializers.CharField(source="get_change_message")

    def get_via(self, entry: LogEntry) -> str:
        return str(audit_details(entry.change_message).get("via", ""))

    def get_action(self, entry: LogEntry) -> str:
        return _ACTIONS.get(entry.action_flag, "")

    def get_object_type(self, entry: LogEntry) -> str:
        model = entry.content_type.model_class() if entry.content_type else None
        return next((kind for kind, (cls, _) in KINDS.items() if cls is model), getattr(model, "__name__", ""))

    def get_changes(self, entry: LogEntry) -> dict[str, Any]:
        return dict(audit_details(entry.change_message).get("values") or {})


def audit_list(*, kind: str = "", identifier: str = "", username: str = "") -> QuerySet[LogEntry]:
    entries = LogEntry.objects.select_related("user", "content_type").order_by("-action_time", "-pk")
    if username:
        entries = entries.filter(user__username=username)
    if not kind:
        return entries
    model, field = KINDS[kind]
    entries = entries.filter(content_type=ContentType.objects.get_for_model(model, for_concrete_model=False))
    if not identifier:
        return entries
    if field == "pk":
        return entries.filter(object_id=identifier)
    pk = model._default_manager.filter(**{field: identifier}).values_list("pk", flat=True).first()
    # A deleted object is found by the name it had (its repr is that name for these kinds).
    return entries.filter(object_id=str(pk)) if pk is not None else entries.filter(object_repr=identifier)


class AuditList(ManagementAPIView):
    permission_model = LogEntry

    pagination_class = ListPagination

    @extend_schema(
        tags=["audit"],
        parameters=[
            OpenApiParameter(
                "object",
                str,
                description="`<kind>` or `<kind>/<identifier>`: kinds account (by user_id), key (by id), "
                "cost (by model), deployment (by id), policy (by public_name), budget (by id), team (by slug), "
                "alert-destination (by id), alert-delivery (by id).",
            ),
            OpenApiParameter("actor", str, description="An operator's username, or a system actor's name."),
        ],
        responses={200: AuditEntry(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Who changed what and when, through the admin, the API or manage.py: newest first."""
        kind, _, identifier = query_text(request, "object").partition("/")
        if kind and kind not in KINDS:
            raise serializers.ValidationError({"object": [f"Unknown kind {kind!r}: one of {', '.join(KINDS)}."]})
        entries = audit_list(kind=kind, identifier=identifier, username=query_text(request, "actor"))
        return self.paginated(entries, AuditEntry)
