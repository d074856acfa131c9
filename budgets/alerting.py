"""Budget alerts from the ledger: the thresholds a settlement crosses become budget events in its own transaction.

Why in the settlement's transaction (budgets.ledger.budget_settle) rather than after its commit: the
event and its outbox rows then commit with the spend that crossed the threshold, or not at all, so
no crossing is lost to a process that dies between the commit and the raise, and none is raised
for spend that rolled back. It is safe on every engine because `alerts.services.budget_event_raise`
never poisons the caller's transaction (a savepoint on SQL; on MongoDB a read first, and a lost
race is a transient error that runs the whole transaction again).

What it costs the hot path: the spend before the batch is read where the ledger already stands
on the rows. On PostgreSQL it is the settlement's own row-locking query (no extra round trip); on
SQLite one read inside the transaction, which already holds the database's write lock (IMMEDIATE
transactions); on MongoDB one read in the transaction's snapshot (a concurrent change to a row it
then updates is a write conflict, and the transaction runs again). Either way the value is exact,
and it is one read per batch of calls, not per call. Spend after = spend before + what the batch
booked, so nothing more is read unless a threshold was crossed (then the crossing budgets' owners,
for the event's labels, and the outbox's destinations).

Exactly once per (budget, window, threshold): spend in a window only rises and every settlement
sees the one before it (row locks, the write lock, or a write conflict), so exactly one batch
crosses each threshold; `budget_event_raise`'s idempotent insert (one row per derived id) covers
retries and replays all the same.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from alerts.services import budget_event_raise
from alerts.thresholds import thresholds_crossed
from budgets.clock import budget_now
from budgets.models import Budget, BudgetPeriod
from budgets.windows import Period, window_at

# A window a settlement books into: (budget id, its start as ISO text, or None for a lifetime window).
Ref = tuple[str, str | None]
SPEND_FIELDS = ("pk", "window_start", "spent_usd", "limit_usd", "thresholds")


@dataclass(frozen=True)
class Crossing:
    """One budget window whose spend, in this settlement, went past one or more of its thresholds."""

    budget_id: str
    start: datetime | None
    end: datetime | None  # known for a closed window; computed from the budget for the current one
    limit_usd: Decimal
    spent_usd: Decimal  # after the settlement
    thresholds: tuple[int, ...]


def spend_read(*, budget_ids: Collection[Any], lock: bool = False) -> dict[str, dict[str, Any]]:
    """Budget rows as they stand in this transaction, by id; `lock`: PostgreSQL row locks in id order, by this query."""
    rows = Budget.objects.filter(pk__in=set(budget_ids))
    if lock:
        rows = rows.select_for_update().order_by("pk")
    return {str(row["pk"]): row for row in rows.values(*SPEND_FIELDS)}


def _start(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _closed(refs: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], BudgetPeriod]:
    """The closed windows calls admitted before a boundary booked into (rare: one read, only when there are any)."""
    if not refs:
        return {}
    periods = BudgetPeriod.objects.filter(
        budget_id__in={budget_id for budget_id, _ in refs}, start__in={start for _, start in refs}
    )  # by (budget, start): a budget with a short window has many closed ones
    wanted = set(refs)
    return {key: period for period in periods if (key := (str(period.budget_id), period.start)) in wanted}


def crossings(*, booked: Mapping[Ref, Decimal], before: Mapping[str, Mapping[str, Any]]) -> list[Crossing]:
    """The windows whose thresholds the spend `booked` (by window) crossed: call it once the spend is booked, with
    the budget rows read before booking (`spend_read`)."""
    current: list[tuple[Ref, datetime | None, Mapping[str, Any]]] = []
    closed: list[tuple[str, datetime]] = []
    for ref, amount in booked.items():
        row = before.get(ref[0])
        if row is None or amount <= 0 or not row["thresholds"]:
            continue  # deleted, nothing spent, or no alerts wanted
        start = _start(ref[1])
        current.append((ref, start, row))
        if row["window_start"] != start and start is not None:
            closed.append((ref[0], start))  # a call admitted before the boundary books into the closed window
    periods = _closed(closed)
    found = []
    for ref, start, row in current:
        if row["window_start"] == start:
            spent, limit, end = row["spent_usd"], row["limit_usd"], None
        elif start is not None and (period := periods.get((ref[0], start))) is not None:
            # Read after booking (rare enough to be read apart): spend before = spend now - what was booked.
            spent, limit, end = period.spent_usd - booked[ref], period.limit_usd, period.end
        else:
            continue  # that window is gone (its budget's period was changed before it was used): nothing booked
        after = spent + booked[ref]
        crossed = thresholds_crossed(before=spent, after=after, limit=limit, thresholds=row["thresholds"])
        if crossed:
            found.append(Crossing(ref[0], start, end, limit, after, tuple(crossed)))
    return found


def _window_end(budget: Budget, start: datetime | None) -> datetime | None:
    """When the current window starts over (None: never), as the ledger will see it."""
    if start is None or budget.period == Period.LIFETIME:
        return None
    end = window_at(budget.spec, start).end
    return end if end is not None and end > start else budget_now()  # the period was changed: it ends at once


def events_raise(*, found: list[Crossing]) -> int:
    """Raises one budget event per threshold crossed (with its deliveries), in the caller's transaction.

    Returns how many were new (a retry or a replay finds them raised already)."""
    rows = Budget.objects.select_related("key", "account", "team").filter(pk__in=[c.budget_id for c in found])
    budgets = {str(budget.pk): budget for budget in rows}
    raised = 0
    for crossing in found:
        budget = budgets.get(crossing.budget_id)
        if budget is None:
            continue
        owner = budget.key or budget.account or budget.team
        for pct in crossing.thresholds:
            event = budget_event_raise(
                budget_ref=crossing.budget_id,
                level=budget.level,
                owner_label=str(owner),
                window_label=budget.label,
                window_start=crossing.start,
                window_end=crossing.end or _window_end(budget, crossing.start),
                threshold_pct=pct,
                limit_usd=crossing.limit_usd,
                spent_usd=crossing.spent_usd,
                time_zone=budget.timezone,
            )
            raised += event is not None
    return raised
