"""The budget ledger: holds for requests in flight (reserve), settlement with the usage rows, releases.

Every function here is one ledger transaction (core.ledger_tx): on SQL engines Django's atomic, on
MongoDB a MongoDB transaction, so a failure between two writes leaves none of them.
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from budgets.models import Hold
from core.ledger_tx import ledger_atomic
from core.money import USD_QUANTUM, ZERO, units_value
from usage.models import UsageLog
from usage.services import UsageEntry, usage_record, usage_record_many


def budget_reserve(*, account_id: Any, request_id: uuid.UUID, amount: Decimal) -> bool:
    """Holds `amount` for a request in flight if it fits in what is left of the budget.

    One transaction: a conditional UPDATE (spent + reserved + amount <= budget, so no two
    requests on any instance can both pass on the last cent of a read value) and the hold's
    own row, so a crash after it leaves a row the sweeper can release. The amount is a worst
    case (proxy.admission), which is why `spent_usd` can never pass `budget_usd`.
    """
    return budget_reserve_many(holds=[(account_id, request_id, amount)])[0]


@ledger_atomic()
def budget_reserve_many(*, holds: Sequence[tuple[Any, ...]]) -> list[bool]:
    """`budget_reserve` for many requests (account id, hold id, amount[, margin]) in one transaction, in order.

    Each conditional UPDATE sees the ones before it, so holds on one account in one batch are
    checked against each other exactly as if they came one by one; one commit serves them all.
    A margin must be left over besides the amount (a budget lease, budgets.leases, is only taken
    while much more than itself remains); it is checked, not held.
    """
    admitted, rows = [], []
    for account_id, hold_id, amount, *margin in holds:
        amount = max(amount, USD_QUANTUM)  # at least one unit: an account at its budget admits nothing
        needed = units_value(amount + (margin[0] if margin else ZERO))
        updated = (
            Account.objects.filter(pk=account_id, is_active=True, budget_usd__isnull=False)
            .alias(committed=F("spent_usd") + F("reserved_usd") + needed)
            .filter(committed__lte=F("budget_usd"))
            .update(reserved_usd=F("reserved_usd") + units_value(amount))
        )
        admitted.append(updated == 1)
        if updated:
            rows.append(Hold(id=hold_id, account_id=account_id, amount_usd=amount))
    Hold.objects.bulk_create(rows)
    return admitted


Settlement = tuple[uuid.UUID, Any, Decimal]  # request id, account id, cost
Draw = tuple[uuid.UUID, Any, Decimal]  # lease id, account id, the worst case the call drew from the lease


@ledger_atomic(savepoint=False)  # its own transaction, or the caller's (the usage row's), never a savepoint
def budget_settle(*, settlements: Sequence[Settlement], draws: Sequence[Draw] = ()) -> None:
    """Books each request's cost and releases what it held, in one transaction.

    `settlements` are (request id, account id, cost). The hold is looked up by the request id,
    not trusted from the caller, so a request whose hold the sweeper already released (or
    that never got one) only adds its cost; `reserved_usd` moves by exactly what the holds lose.
    A call admitted from a budget lease (budgets.leases) has no hold of its own: its `draws` entry
    (lease id, account id, amount drawn) takes the amount out of the lease, if the lease is still
    there; a lease already released returned it then.
    Sequences, not any iterables: on MongoDB a transaction that conflicts is run again with the same arguments.
    """
    drawn: dict[uuid.UUID, tuple[Any, Decimal]] = {}  # lease id: its account, the amount its calls drew
    for lease_id, account_id, amount in draws:
        drawn[lease_id] = (account_id, drawn.get(lease_id, (account_id, ZERO))[1] + amount)
    holds = dict(
        Hold.objects.select_for_update()
        .filter(id__in=[request_id for request_id, _, _ in settlements] + list(drawn))
        .values_list("id", "amount_usd")
    )
    if own := [request_id for request_id, _, _ in settlements if request_id in holds]:
        Hold.objects.filter(id__in=own).delete()
    ledger: dict[Any, tuple[Decimal, Decimal]] = {}
    for request_id, account_id, cost in settlements:
        released, spent = ledger.get(account_id, (ZERO, ZERO))
        ledger[account_id] = (released + holds.get(request_id, ZERO), spent + cost)
    for lease_id, (account_id, amount) in drawn.items():
        if lease_id not in holds:
            continue
        moved = min(amount, holds[lease_id])
        Hold.objects.filter(id=lease_id).update(amount_usd=F("amount_usd") - units_value(moved))
        released, spent = ledger.get(account_id, (ZERO, ZERO))
        ledger[account_id] = (released + moved, spent)
    # Accounts in one order in every transaction: two instances settling batches that share accounts
    # otherwise deadlock on PostgreSQL (seen with three instances behind nginx, bench/instances.py).
    for account_id, (released, spent) in sorted(ledger.items(), key=lambda item: str(item[0])):
        if released or spent:
            Account.objects.filter(pk=account_id).update(
                spent_usd=F("spent_usd") + units_value(spent), reserved_usd=F("reserved_usd") - units_value(released)
            )


@ledger_atomic()
def hold_release(*, hold_id: Any) -> bool:
    """Releases one hold whose request will never settle; False if it was settled or released meanwhile."""
    hold = Hold.objects.select_for_update().filter(pk=hold_id).values("account_id", "amount_usd").first()
    if hold is None or Hold.objects.filter(pk=hold_id).delete()[0] != 1:
        return False
    Account.objects.filter(pk=hold["account_id"]).update(
        reserved_usd=F("reserved_usd") - units_value(hold["amount_usd"])
    )
    return True


def leases_release(*, lease_ids: Sequence[uuid.UUID]) -> int:
    """Releases budget leases (budgets.leases) whose calls have all settled: what none of them used goes back."""
    return sum(hold_release(hold_id=lease_id) for lease_id in lease_ids)


def hold_release_stale(*, older_than: timedelta) -> int:
    """Releases holds older than any request can run (a killed worker's, a lost settlement's); returns how many."""
    cutoff = timezone.now() - older_than
    stale = list(Hold.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:10_000])
    return sum(hold_release(hold_id=hold_id) for hold_id in stale)


@ledger_atomic()
def usage_book_many(*, entries: Sequence[UsageEntry], idempotent: bool = False) -> int:
    """Rows for a batch and their settlements (cost booked, hold released), in one transaction: both or neither.

    `idempotent` skips entries whose row already exists (spool and journal replays), and settles
    only the rows it wrote, so nothing is booked twice. Returns the rows written.
    """
    written = usage_record_many(entries=entries, idempotent=idempotent)
    if written:
        _settle(written)
    return len(written)


def _settle(entries: Sequence[UsageEntry]) -> None:
    budget_settle(
        settlements=[(entry.request_id, entry.account_id, entry.cost_usd) for entry in entries],
        draws=[(uuid.UUID(e.lease_id), e.account_id, e.lease_draw_usd) for e in entries if e.lease_id],
    )


@ledger_atomic()
def usage_book(*, entry: UsageEntry) -> UsageLog:
    """One row and its settlement, in one transaction."""
    row = usage_record(entry=entry)
    _settle([entry])
    return row
