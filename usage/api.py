"""Management API for usage: an account's rows, newest first, cursor-paginated, with totals."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account
from accounts.selectors import account_get
from core.api_auth import ManagementAPIView
from core.api_errors import error_responses, path_text, validate_input
from keys.models import APIKey
from keys.selectors import key_get
from usage.models import UsageLog
from usage.selectors import usage_list, usage_totals
from usage.serializers import UsageFilter, UsageOutput, UsagePageOutput, UsageTotalsOutput


class UsagePagination(CursorPagination):
    # The id breaks ties between rows created in the same microsecond, so pages never overlap.
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _key_of(account: Account, key_id: str) -> Any:
    try:
        key = key_get(key_id=key_id)
    except APIKey.DoesNotExist:
        key = None
    if key is None or key.account_id != account.pk:
        raise serializers.ValidationError({"key_id": ["This account has no key with this id."]})
    return key.pk


class UsageByAccount(ManagementAPIView):
    permission_model = UsageLog

    @extend_schema(
        tags=["usage"],
        parameters=[
            OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="The account's own identifier."),
            UsageFilter,
            OpenApiParameter("cursor", str, description="From `next` or `previous` of another page."),
            OpenApiParameter("page_size", int, description="Rows per page (default 50, at most 500)."),
        ],
        responses={200: UsagePageOutput, **error_responses(400, 404)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        """The account's usage rows, newest first, with totals over every row the filters match."""
        account = account_get(user_id=path_text(user_id))
        filters = validate_input(UsageFilter, request.query_params)
        if "key_id" in filters:
            filters["key_id"] = _key_of(account, filters["key_id"])
        rows = usage_list(account_id=account.pk, **filters).select_related("account")
        paginator = UsagePagination()
        page = paginator.paginate_queryset(rows, request, view=self) or []
        return Response(
            {
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": UsageOutput(page, many=True).data,
                "totals": UsageTotalsOutput(usage_totals(queryset=rows)).data,
            }
        )
