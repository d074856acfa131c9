"""Reads of accounts, including the cached snapshot the proxy's hot path uses."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account, Team
from accounts.services import ACCOUNT_CACHE
from core.cache import cache_get_or_load


@dataclass(frozen=True)
class AccountState:
    """What admission needs to know about an account; cached, so never the live spend."""

    id: Any
    user_id: str
    is_active: bool
    team_id: Any = None


def account_get(*, user_id: str) -> Account:
    return Account.objects.select_related("team").prefetch_related("budgets").get(user_id=user_id)


def team_and_below(*, team: Team, depth: int = 8) -> tuple[Any, ...]:
    """The ids of `team` and of every team inside it (teams nest at most `depth` levels: budgets.services)."""
    found, level = [team.pk], [team.pk]
    for _ in range(depth):
        level = list(Team.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        if not level:
            break
        found += level
    return tuple(found)


def account_list(*, search: str = "") -> QuerySet[Account]:
    qs = Account.objects.select_related("team").prefetch_related("budgets")
    if search:
        qs = qs.filter(user_id__icontains=search) | qs.filter(name__icontains=search)
    return qs.order_by("user_id")


def account_state(*, account_id: Any) -> AccountState | None:
    def load() -> AccountState | None:
        row = Account.objects.filter(pk=account_id).values("id", "user_id", "is_active", "team_id").first()
        return AccountState(**row) if row else None

    return cache_get_or_load(ACCOUNT_CACHE, account_id, load)
