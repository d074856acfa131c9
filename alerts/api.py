"""Management API for alerts: budget events (filterable), destinations (CRUD, secrets shown once), deliveries."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.models import BudgetEvent, Delivery, Destination
from alerts.selectors import (
    delivery_get,
    delivery_list,
    destination_get,
    destination_list,
    event_get,
    event_list,
)
from alerts.serializers import (
    DeliveryOutput,
    DestinationCreateInput,
    DestinationOutput,
    DestinationSavedOutput,
    DestinationUpdateInput,
    EventOutput,
)
from alerts.services import (
    SavedDestination,
    delivery_retry_now,
    destination_create,
    destination_delete,
    destination_update,
)
from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, path_text, query_text, validate_input

TAGS = ["alerts"]
EVENT_ID = OpenApiParameter("event_id", str, OpenApiParameter.PATH, description="The event's `id`.")
DESTINATION_ID = OpenApiParameter("destination_id", str, OpenApiParameter.PATH, description="The destination's `id`.")
DELIVERY_ID = OpenApiParameter("delivery_id", str, OpenApiParameter.PATH, description="The delivery's `id`.")
_STATUSES = [status for status, _ in Delivery.STATUSES]


def _found(obj: Any) -> Any:
    if obj is None:
        raise exceptions.NotFound()
    return obj


def _saved(saved: SavedDestination, code: int = status.HTTP_200_OK) -> Response:
    saved.destination.new_secret = saved.new_secret  # type: ignore[attr-defined]  # for this one response only
    response = Response(DestinationSavedOutput(saved.destination).data, status=code)
    response["Cache-Control"] = "no-store"  # it may carry a secret: no cache may keep a copy
    return response


class EventList(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = BudgetEvent

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("budget_ref", str, description="Only this budget's events."),
            OpenApiParameter("level", str, description="Only this level's: key, account, team ..."),
            OpenApiParameter("owner", str, description="Only this owner's (exact match)."),
        ],
        responses={200: EventOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Budget events, newest first: each threshold crossed once per window, with its deliveries' state."""
        events = event_list(
            budget_ref=query_text(request, "budget_ref"),
            level=query_text(request, "level"),
            owner=query_text(request, "owner"),
        )
        return self.paginated(events, EventOutput)


class EventDetail(ManagementAPIView):
    permission_model = BudgetEvent

    @extend_schema(tags=TAGS, parameters=[EVENT_ID], responses={200: EventOutput, **error_responses(404)})
    def get(self, request: Request, event_id: str) -> Response:
        """One budget event."""
        return Response(EventOutput(_found(event_get(event_id=path_text(event_id)))).data)


class DestinationListCreate(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = Destination

    @extend_schema(tags=TAGS, responses={200: DestinationOutput(many=True)})
    def get(self, request: Request) -> Response:
        """Where budget events go: webhooks (URL origin only) and e-mail addresses."""
        return self.paginated(destination_list(), DestinationOutput)

    @extend_schema(
        tags=TAGS, request=DestinationCreateInput, responses={201: DestinationSavedOutput, **error_responses(400)}
    )
    def post(self, request: Request) -> Response:
        """Adds a destination. A webhook without a `secret` gets one generated, returned in this response only."""
        saved = destination_create(**validate_input(DestinationCreateInput, request.data), actor=self.actor)
        return _saved(saved, status.HTTP_201_CREATED)


class DestinationDetail(ManagementAPIView):
    permission_model = Destination

    @extend_schema(tags=TAGS, parameters=[DESTINATION_ID], responses={200: DestinationOutput, **error_responses(404)})
    def get(self, request: Request, destination_id: str) -> Response:
        """One destination, without its secret or full URL."""
        return Response(DestinationOutput(_found(destination_get(destination_id=path_text(destination_id)))).data)

    @extend_schema(
        tags=TAGS,
        parameters=[DESTINATION_ID],
        request=DestinationUpdateInput,
        responses={200: DestinationSavedOutput, **error_responses(400, 404)},
    )
    def patch(self, request: Request, destination_id: str) -> Response:
        """Changes a destination; `rotate_secret: true` generates a new secret, returned in this response only."""
        destination = _found(destination_get(destination_id=path_text(destination_id)))
        changes = validate_input(DestinationUpdateInput, request.data)
        return _saved(destination_update(destination=destination, actor=self.actor, **changes))

    @extend_schema(tags=TAGS, parameters=[DESTINATION_ID], responses={204: None, **error_responses(404)})
    def delete(self, request: Request, destination_id: str) -> Response:
        """Removes a destination and its deliveries (pending ones are never sent); PATCH `enabled` keeps history."""
        destination = _found(destination_get(destination_id=path_text(destination_id)))
        destination_delete(destination=destination, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryList(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = Delivery

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("status", str, enum=_STATUSES, description="Only deliveries in this state."),
            OpenApiParameter("event_id", str, description="Only this event's deliveries."),
        ],
        responses={200: DeliveryOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """The outbox, newest first: each event's deliveries, their attempts and last error."""
        wanted = query_text(request, "status")
        if wanted and wanted not in _STATUSES:
            raise serializers.ValidationError({"status": [f"Must be one of {', '.join(_STATUSES)}."]})
        return self.paginated(delivery_list(status=wanted, event_id=query_text(request, "event_id")), DeliveryOutput)


class DeliveryRetry(ManagementAPIView):
    permission_model = Delivery
    permission_actions = {"POST": ("change",)}  # as the admin's retry action

    @extend_schema(
        tags=TAGS, parameters=[DELIVERY_ID], request=None, responses={200: DeliveryOutput, **error_responses(404)}
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        """Sends a delivery again now (a failed one, or a delivered one again), with a fresh retry budget."""
        delivery = _found(delivery_get(delivery_id=path_text(delivery_id)))
        delivery_retry_now(delivery_ids=[delivery.pk], actor=self.actor)
        delivery.refresh_from_db()
        return Response(DeliveryOutput(delivery).data)
