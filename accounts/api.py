"""Management API for accounts: create, list, get and update by `user_id`."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, Team
from accounts.selectors import account_get, account_list
from accounts.serializers import AccountCreateInput, AccountOutput, AccountUpdateInput
from accounts.services import account_update
from budgets.services import account_budget_set, account_open
from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, path_text, query_text, validate_input
from core.audit import Actor

USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="The account's own identifier.")


class AccountListCreate(ManagementAPIView):
    permission_model = Account

    pagination_class = ListPagination

    @extend_schema(
        tags=["accounts"],
        parameters=[OpenApiParameter("search", str, description="Part of the user_id or name.")],
        responses={200: AccountOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Accounts by user_id, optionally searched."""
        return self.paginated(account_list(search=query_text(request, "search")), AccountOutput)

    @extend_schema(
        tags=["accounts"], request=AccountCreateInput, responses={201: AccountOutput, **error_responses(400)}
    )
    def post(self, request: Request) -> Response:
        """Creates an account; budget_usd null (the default) means no lifetime budget."""
        data = validate_input(AccountCreateInput, request.data)
        account = account_open(**{**data, "team": _team(data.get("team"))}, actor=self.actor)
        return Response(AccountOutput(account).data, status=status.HTTP_201_CREATED)


class AccountDetail(ManagementAPIView):
    permission_model = Account

    @extend_schema(tags=["accounts"], parameters=[USER_ID], responses={200: AccountOutput, **error_responses(404)})
    def get(self, request: Request, user_id: str) -> Response:
        """One account, with its spend, reservations and remaining budget."""
        return Response(AccountOutput(account_get(user_id=path_text(user_id))).data)

    @extend_schema(
        tags=["accounts"],
        parameters=[USER_ID],
        request=AccountUpdateInput,
        responses={200: AccountOutput, **error_responses(400, 404)},
    )
    def patch(self, request: Request, user_id: str) -> Response:
        """Changes name, email, lifetime budget, team or active flag; omitted fields stay as they are."""
        account = account_get(user_id=path_text(user_id))
        data = validate_input(AccountUpdateInput, request.data)
        _update(account, data, self.actor)
        return Response(AccountOutput(account_get(user_id=account.user_id)).data)


def _team(slug: str | None) -> Team | None:
    if slug is None:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise ValidationError({"team": [f"There is no team {slug!r}."]})
    return team


@transaction.atomic
def _update(account: Account, data: dict[str, Any], actor: Actor) -> None:
    if "budget_usd" in data:
        account_budget_set(account=account, budget_usd=data.pop("budget_usd"), actor=actor)
    if "team" in data:
        data["team"] = _team(data["team"])
    if data:
        account_update(account=account, actor=actor, **data)
