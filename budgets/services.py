"""Writes to budgets and teams: what operators create, change and delete (the money itself: budgets.ledger).

Every write drops the cached plans it changes on every instance (core.cache, after commit), so
the next call is admitted against the new limits; budget leases taken under the old ones close
at that call (budgets.leases).
"""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account, Team
from accounts.services import account_create
from budgets.ledger import BudgetLine
from budgets.models import Budget
from budgets.windows import Period, spec_errors
from core.audit import Actor, audit_added, audit_changed, audit_deleted, field_changes, system_actor
from core.cache import cache_invalidate
from core.money import MONEY_MAX
from keys.models import APIKey

KEY_BUDGETS = "budgets-key"
ACCOUNT_BUDGETS = "budgets-account"
TEAM_BUDGETS = "budgets-team"
_MAX_TEAM_DEPTH = 8
MAX_THRESHOLDS = 10  # a window raises at most this many alerts
_UPDATABLE = frozenset({"name", "limit_usd", "period", "interval_seconds", "timezone", "anchor", "thresholds"})


def budget_line(budget: Budget) -> BudgetLine:
    """The cached form of a budget the hot path needs: never the live spend."""
    return BudgetLine(
        budget_id=str(budget.pk),
        level=budget.level,
        owner=budget.owner_label,
        owner_ref=budget.owner_ref,
        label=budget.label,
        limit_usd=budget.limit_usd,
        spec=budget.spec,
    )


def _owner_cache(budget: Budget) -> tuple[str, Any]:
    if budget.level == Budget.Level.KEY:
        return KEY_BUDGETS, budget.key_id
    if budget.level == Budget.Level.ACCOUNT:
        return ACCOUNT_BUDGETS, budget.account_id
    return TEAM_BUDGETS, budget.team_id


def _invalidate(budget: Budget) -> None:
    namespace, owner = _owner_cache(budget)
    transaction.on_commit(lambda: cache_invalidate(namespace, owner))


def _actor(actor: Actor | None) -> Actor:
    return actor or system_actor(via="gateway")


def _audited(budget: Budget) -> dict[str, Any]:
    return {
        "owner": budget.owner_label,
        "name": budget.name,
        "limit_usd": budget.limit_usd,
        "period": budget.period,
        "interval_seconds": budget.interval_seconds,
        "timezone": budget.timezone,
        "anchor": budget.anchor,
        "thresholds": budget.thresholds,
    }


def _check(budget: Budget) -> None:
    errors = []
    if budget.limit_usd is None or budget.limit_usd < 0:
        errors.append("limit_usd must be a non-negative amount.")
    elif budget.limit_usd > MONEY_MAX:
        errors.append(f"limit_usd must be at most {MONEY_MAX}.")
    if budget.period not in Period.__members__.values():
        errors.append(f"period must be one of {', '.join(p.value for p in Period)}.")
    else:
        errors += spec_errors(budget.spec)
    thresholds = budget.thresholds
    if not isinstance(thresholds, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 1000 for t in thresholds
    ):
        errors.append("thresholds must be a list of whole percents from 1 to 1000.")
    elif len(set(thresholds)) > MAX_THRESHOLDS:
        errors.append(f"thresholds may name at most {MAX_THRESHOLDS} percents.")
    else:
        budget.thresholds = sorted(set(thresholds))  # each alerts once per window, lowest first
    if errors:
        raise ValidationError(" ".join(errors))


def budget_create(
    *,
    owner: Any,
    limit_usd: Decimal,
    period: str = Period.LIFETIME,
    interval_seconds: int = 0,
    timezone: str = "UTC",
    anchor: int | None = None,
    thresholds: list[int] | None = None,
    name: str = "",
    actor: Actor | None = None,
) -> Budget:
    """A budget for a key (APIKey), an account (Account) or a team (Team); its first window starts at its first call."""
    if isinstance(owner, APIKey):
        level = Budget.Level.KEY
    elif isinstance(owner, Account):
        level = Budget.Level.ACCOUNT
    elif isinstance(owner, Team):
        level = Budget.Level.TEAM
    else:
        raise ValidationError("A budget belongs to an API key, an account or a team.")
    budget = Budget(
        level=level,
        name=name,
        limit_usd=limit_usd,
        period=period,
        interval_seconds=interval_seconds,
        timezone=timezone,
        anchor=(0 if period == Period.WEEK else 1) if anchor is None else anchor,
        thresholds=list(settings.ALERT_THRESHOLDS if thresholds is None else thresholds),
        **{level: owner},
    )
    _check(budget)
    with transaction.atomic():
        budget.save()
        audit_added(actor=_actor(actor), obj=budget, values=_audited(budget))
        _invalidate(budget)
    return budget


def budget_update(*, budget: Budget, actor: Actor | None = None, **fields: Any) -> Budget:
    """Changes a budget. A new period (or interval, zone, anchor) starts a new window at the next call; a new
    limit applies at once, to the window in progress."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    changes = field_changes(budget, fields)
    for name, value in fields.items():
        setattr(budget, name, value)
    _check(budget)
    with transaction.atomic():
        budget.save(update_fields=[*fields, "updated_at"])
        audit_changed(actor=_actor(actor), obj=budget, changes=changes)
        _invalidate(budget)
    return budget


def budget_delete(*, budget: Budget, actor: Actor | None = None) -> None:
    """Removes a budget; holds taken under it settle as usual (their windows are gone, so nothing books there)."""
    with transaction.atomic():
        _invalidate(budget)
        audit_deleted(actor=_actor(actor), obj=budget, values=_audited(budget))
        budget.delete()


def _check_budget_usd(budget_usd: Decimal | None) -> None:
    if budget_usd is not None and budget_usd < 0:
        raise ValidationError("budget_usd must not be negative.")
    if budget_usd is not None and budget_usd > MONEY_MAX:
        raise ValidationError(f"budget_usd must be at most {MONEY_MAX}.")


def account_budget_set(*, account: Account, budget_usd: Decimal | None, actor: Actor | None = None) -> Budget | None:
    """The account's lifetime budget, as `budget_usd` has always meant: set, changed, or removed (None). The
    account's history records the change too, as `budget_usd`, where operators have always read it."""
    _check_budget_usd(budget_usd)
    current = account_lifetime_budget(account=account)
    before = None if current is None else current.limit_usd
    if before != budget_usd:
        audit_changed(actor=_actor(actor), obj=account, changes={"budget_usd": (before, budget_usd)})
    if budget_usd is None:
        if current is not None:
            budget_delete(budget=current, actor=actor)
        return None
    if current is not None:
        return budget_update(budget=current, limit_usd=budget_usd, actor=actor)
    budget = budget_create(owner=account, limit_usd=budget_usd, actor=actor)
    # Lifetime means the account's whole life: what it spent before it had a budget counts.
    Budget.objects.filter(pk=budget.pk).update(spent_usd=account.spent_usd)
    budget.refresh_from_db()
    return budget


def account_lifetime_budget(*, account: Account) -> Budget | None:
    return Budget.objects.filter(account=account, period=Period.LIFETIME).order_by("created_at").first()


@transaction.atomic
def account_open(
    *,
    user_id: str,
    name: str = "",
    email: str = "",
    budget_usd: Decimal | None = None,
    is_active: bool = True,
    team: Team | None = None,
    actor: Actor | None = None,
) -> Account:
    """An account, with its lifetime budget when `budget_usd` is given (None: unlimited)."""
    _check_budget_usd(budget_usd)
    account = account_create(
        user_id=user_id,
        name=name,
        email=email,
        is_active=is_active,
        team=team,
        actor=actor,
        audit_values={"budget_usd": budget_usd},
    )
    if budget_usd is not None:
        budget = budget_create(owner=account, limit_usd=budget_usd, actor=actor)
        Budget.objects.filter(pk=budget.pk).update(spent_usd=account.spent_usd)
    return account


def _depth_and_cycle(team: Team, parent: Team | None) -> None:
    seen = {team.pk}
    depth = 1
    while parent is not None:
        if parent.pk in seen:
            raise ValidationError("A team cannot be inside itself.")
        seen.add(parent.pk)
        depth += 1
        if depth > _MAX_TEAM_DEPTH:
            raise ValidationError(f"Teams nest at most {_MAX_TEAM_DEPTH} levels deep.")
        parent = parent.parent


def team_create(*, slug: str, name: str = "", parent: Team | None = None, actor: Actor | None = None) -> Team:
    if Team.objects.filter(slug=slug).exists():
        raise ValidationError(f"A team with slug {slug!r} already exists.")
    team = Team(slug=slug, name=name, parent=parent)
    _depth_and_cycle(team, parent)
    with transaction.atomic():
        team.save()
        audit_added(actor=_actor(actor), obj=team, values={"slug": slug, "name": name, "parent": parent})
    return team


@transaction.atomic
def team_update(*, team: Team, actor: Actor | None = None, **fields: Any) -> Team:
    unknown = set(fields) - {"name", "parent"}
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if "parent" in fields:
        _depth_and_cycle(team, fields["parent"])
    changes = field_changes(team, fields)
    for name, value in fields.items():
        setattr(team, name, value)
    team.save(update_fields=[*fields, "updated_at"])
    audit_changed(actor=_actor(actor), obj=team, changes=changes)
    transaction.on_commit(lambda: cache_invalidate(TEAM_BUDGETS, team.pk))
    return team
