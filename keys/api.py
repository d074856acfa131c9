"""Management API for API keys: create (the raw key shown once), list, get and update."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account
from accounts.selectors import account_get
from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, query_text, validate_input
from keys.models import APIKey
from keys.selectors import key_get, key_list
from keys.serializers import KeyCreatedOutput, KeyCreateInput, KeyOutput, KeyUpdateInput
from keys.services import key_create, key_update

KEY_ID = OpenApiParameter("key_id", str, OpenApiParameter.PATH, description="The key's `id`.")


def _owner(user_id: str) -> Account:
    try:
        return account_get(user_id=user_id)
    except Account.DoesNotExist:
        raise serializers.ValidationError({"user_id": [f"No account with user_id {user_id!r}."]}) from None


class KeyListCreate(ManagementAPIView):
    permission_model = APIKey

    pagination_class = ListPagination

    @extend_schema(
        tags=["keys"],
        parameters=[OpenApiParameter("user_id", str, description="Only this account's keys.")],
        responses={200: KeyOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """API keys, newest first; never the secret or its hash."""
        user_id = query_text(request, "user_id")
        keys = key_list()
        if user_id:
            keys = keys.filter(account__user_id=user_id)
        return self.paginated(keys, KeyOutput)

    @extend_schema(tags=["keys"], request=KeyCreateInput, responses={201: KeyCreatedOutput, **error_responses(400)})
    def post(self, request: Request) -> Response:
        """Creates a key for an account; the response carries the raw `key`, shown this once only."""
        data: dict[str, Any] = validate_input(KeyCreateInput, request.data)
        created = key_create(account=_owner(data.pop("user_id")), actor=self.actor, **data)
        created.key.raw_key = created.raw  # type: ignore[attr-defined]  # for this one response only
        return Response(KeyCreatedOutput(created.key).data, status=status.HTTP_201_CREATED)


class KeyDetail(ManagementAPIView):
    permission_model = APIKey

    @extend_schema(tags=["keys"], parameters=[KEY_ID], responses={200: KeyOutput, **error_responses(404)})
    def get(self, request: Request, key_id: str) -> Response:
        """One API key, without its secret."""
        return Response(KeyOutput(key_get(key_id=key_id)).data)

    @extend_schema(
        tags=["keys"],
        parameters=[KEY_ID],
        request=KeyUpdateInput,
        responses={200: KeyOutput, **error_responses(400, 404)},
    )
    def patch(self, request: Request, key_id: str) -> Response:
        """Activates or deactivates a key, or changes its expiry, allowed models or limits."""
        key = key_update(key=key_get(key_id=key_id), actor=self.actor, **validate_input(KeyUpdateInput, request.data))
        return Response(KeyOutput(key).data)
