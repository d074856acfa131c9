"""Management API for usage rows: one account's or all, newest first, cursor-paginated, with totals from rollups."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, Team
from accounts.selectors import account_get, team_and_below
from core.api_auth import ManagementAPIView
from core.api_errors import error_responses, path_text, validate_input
from keys.models import APIKey
from keys.selectors import key_get
from usage.models import UsageLog
from usage.reports import UsageScope, model_names, usage_total
from usage.selectors import usage_rows
from usage.serializers import UsageFilter, UsageListFilter, UsageOutput, UsagePageOutput, UsageTotalsOutput


class UsagePagination(CursorPagination):
    # The id breaks ties between rows created in the same microsecond, so pages never overlap.
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_PAGING = [
    OpenApiParameter("cursor", str, description="From `next` or `previous` of another page."),
    OpenApiParameter("page_size", int, description="Rows per page (default 50, at most 500)."),
]


def account_of(user_id: str) -> Account:
    """The account a filter names; a 400 (not a 404: the route exists) when there is none."""
    try:
        return account_get(user_id=user_id)
    except Account.DoesNotExist:
        raise serializers.ValidationError({"user_id": ["No account has this user_id."]}) from None


def team_of(slug: str) -> tuple[Any, ...]:
    """The team a filter names and the teams inside it (as its budgets count them); a 400 when there is none."""
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise serializers.ValidationError({"team": ["No team has this slug."]})
    return team_and_below(team=team)


def key_of(key_id: str, account: Account | None) -> Any:
    try:
        key = key_get(key_id=key_id)
    except APIKey.DoesNotExist:
        key = None
    if key is None or (account is not None and key.account_id != account.pk):
        message = "This account has no key with this id." if account else "No key has this id."
        raise serializers.ValidationError({"key_id": [message]})
    return key.pk


def usage_scope(filters: dict[str, Any], account: Account | None = None) -> UsageScope:
    """The validated filters of a usage or report route as a scope (usage.reports)."""
    if account is None and "user_id" in filters:
        account = account_of(filters["user_id"])
    return UsageScope(
        since=filters.get("since"),
        until=filters.get("until"),
        account_id=account.pk if account else None,
        team_ids=team_of(filters["team"]) if "team" in filters else None,
        key_id=key_of(filters["key_id"], account) if "key_id" in filters else None,
        models=model_names(name=filters["model"], account_id=account.pk if account else None)
        if "model" in filters
        else None,
        provider=filters.get("provider"),
        route=filters.get("route"),
        status_class=filters.get("status"),
    )


def _page(view: ManagementAPIView, request: Request, scope: UsageScope) -> Response:
    rows = usage_rows(scope=scope).select_related("account")
    paginator = UsagePagination()
    page = paginator.paginate_queryset(rows, request, view=view) or []
    return Response(
        {
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": UsageOutput(page, many=True).data,
            "totals": UsageTotalsOutput(usage_total(scope=scope)).data,
        }
    )


class UsageByAccount(ManagementAPIView):
    permission_model = UsageLog

    @extend_schema(
        tags=["usage"],
        parameters=[
            OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="The account's own identifier."),
            UsageFilter,
            *_PAGING,
        ],
        responses={200: UsagePageOutput, **error_responses(400, 404)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        """The account's usage rows, newest first, with totals over every row the filters match."""
        account = account_get(user_id=path_text(user_id))
        filters = validate_input(UsageFilter, request.query_params)
        return _page(self, request, usage_scope(filters, account))


class UsageList(ManagementAPIView):
    @extend_schema(
        tags=["usage"],
        parameters=[UsageListFilter, *_PAGING],
        responses={200: UsagePageOutput, **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Usage rows of every account, newest first, with totals over every row the filters match."""
        filters = validate_input(UsageListFilter, request.query_params)
        return _page(self, request, usage_scope(filters))
