"""Management API for budgets (with their current window and history) and teams, through budgets.services."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, Team
from budgets.models import Budget
from budgets.selectors import budget_history, budget_list
from budgets.serializers import (
    BudgetCreateInput,
    BudgetOutput,
    BudgetUpdateInput,
    PeriodOutput,
    TeamCreateInput,
    TeamOutput,
    TeamUpdateInput,
)
from budgets.services import budget_create, budget_delete, budget_update, team_create, team_update
from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, path_text, query_text, validate_input
from keys.models import APIKey

BUDGET_ID = OpenApiParameter("budget_id", str, OpenApiParameter.PATH, description="The budget's `id`.")
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The team's slug.")
_OWNERS: dict[str, tuple[type[Any], str]] = {
    "key": (APIKey, "pk"),
    "account": (Account, "user_id"),
    "team": (Team, "slug"),
}


def _owner(level: str, ref: str) -> Any:
    model, field = _OWNERS[level]
    try:
        owner = model.objects.filter(**{field: ref}).first()
    except (ValueError, TypeError):  # a key id that is not one
        owner = None
    if owner is None:
        raise exceptions.ValidationError({"owner": [f"There is no {level} {ref!r}."]})
    return owner


def _budget(budget_id: str) -> Budget:
    try:
        budget = Budget.objects.select_related("key", "account", "team").filter(pk=path_text(budget_id)).first()
    except (ValueError, TypeError):
        budget = None
    if budget is None:
        raise exceptions.NotFound()
    return budget


def _team(slug: str | None, *, field: str = "parent") -> Team | None:
    if slug is None:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise exceptions.ValidationError({field: [f"There is no team {slug!r}."]})
    return team


class BudgetListCreate(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = Budget

    @extend_schema(
        tags=["budgets"],
        parameters=[
            OpenApiParameter("level", str, enum=["key", "account", "team"], description="Only this level's budgets."),
            OpenApiParameter("owner", str, description="With `level`: the key id, account user_id or team slug."),
        ],
        responses={200: BudgetOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Budgets, each with its current window (spent, held, left, when it starts over)."""
        level, ref = query_text(request, "level"), query_text(request, "owner")
        if level and level not in _OWNERS:
            raise exceptions.ValidationError({"level": ["Use key, account or team."]})
        if ref and not level:
            raise exceptions.ValidationError({"owner": ["Give the owner's level too."]})
        owner_id = _owner(level, ref).pk if ref else None
        return self.paginated(budget_list(level=level, owner_id=owner_id), BudgetOutput)

    @extend_schema(tags=["budgets"], request=BudgetCreateInput, responses={201: BudgetOutput, **error_responses(400)})
    def post(self, request: Request) -> Response:
        """A budget for a key, an account or a team: a limit over a window (lifetime, interval, day, week, month)."""
        data = validate_input(BudgetCreateInput, request.data)
        owner = _owner(data.pop("level"), data.pop("owner"))
        budget = budget_create(owner=owner, actor=self.actor, **data)
        return Response(BudgetOutput(budget).data, status=status.HTTP_201_CREATED)


class BudgetDetail(ManagementAPIView):
    permission_model = Budget

    @extend_schema(tags=["budgets"], parameters=[BUDGET_ID], responses={200: BudgetOutput, **error_responses(404)})
    def get(self, request: Request, budget_id: str) -> Response:
        """One budget and its current window."""
        return Response(BudgetOutput(_budget(budget_id)).data)

    @extend_schema(
        tags=["budgets"],
        parameters=[BUDGET_ID],
        request=BudgetUpdateInput,
        responses={200: BudgetOutput, **error_responses(400, 404)},
    )
    def patch(self, request: Request, budget_id: str) -> Response:
        """Changes a budget: a new limit applies at once; a new period starts a new window at the next call."""
        budget = budget_update(
            budget=_budget(budget_id), actor=self.actor, **validate_input(BudgetUpdateInput, request.data)
        )
        return Response(BudgetOutput(budget).data)

    @extend_schema(tags=["budgets"], parameters=[BUDGET_ID], responses={204: None, **error_responses(404)})
    def delete(self, request: Request, budget_id: str) -> Response:
        """Removes a budget (its history goes with it)."""
        budget_delete(budget=_budget(budget_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BudgetHistory(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = Budget

    @extend_schema(
        tags=["budgets"], parameters=[BUDGET_ID], responses={200: PeriodOutput(many=True), **error_responses(404)}
    )
    def get(self, request: Request, budget_id: str) -> Response:
        """The budget's closed windows, newest first: what was spent in each."""
        return self.paginated(budget_history(budget=_budget(budget_id)), PeriodOutput)


class TeamListCreate(ManagementAPIView):
    pagination_class = ListPagination
    permission_model = Team

    @extend_schema(tags=["teams"], responses={200: TeamOutput(many=True)})
    def get(self, request: Request) -> Response:
        """Teams, their accounts and budgets."""
        teams = Team.objects.select_related("parent").prefetch_related("accounts", "budgets").order_by("slug")
        return self.paginated(teams, TeamOutput)

    @extend_schema(tags=["teams"], request=TeamCreateInput, responses={201: TeamOutput, **error_responses(400)})
    def post(self, request: Request) -> Response:
        """A team (inside `parent`, if given). Accounts join it with PATCH /api/accounts/{user_id}/ {"team": …}."""
        data = validate_input(TeamCreateInput, request.data)
        team = team_create(
            slug=data["slug"], name=data.get("name", ""), parent=_team(data.get("parent")), actor=self.actor
        )
        return Response(TeamOutput(team).data, status=status.HTTP_201_CREATED)


class TeamDetail(ManagementAPIView):
    permission_model = Team

    @extend_schema(tags=["teams"], parameters=[SLUG], responses={200: TeamOutput, **error_responses(404)})
    def get(self, request: Request, slug: str) -> Response:
        """One team, its accounts and budgets."""
        return Response(TeamOutput(Team.objects.get(slug=path_text(slug))).data)

    @extend_schema(
        tags=["teams"], parameters=[SLUG], request=TeamUpdateInput, responses={200: TeamOutput, **error_responses(400)}
    )
    def patch(self, request: Request, slug: str) -> Response:
        """Changes a team's name or the team above it."""
        team = Team.objects.get(slug=path_text(slug))
        data = validate_input(TeamUpdateInput, request.data)
        if "parent" in data:
            data["parent"] = _team(data["parent"])
        with transaction.atomic():
            team = team_update(team=team, actor=self.actor, **data)
        return Response(TeamOutput(team).data)
