"""The budget ledger: holds on every window a call must fit, settlement, release, and windows that start over.

Every write here runs in one ledger transaction (core.ledger_tx: Django's atomic on
SQL, a MongoDB transaction there). Amounts are integer units in the database (MoneyField), so
every comparison and sum is exact.

- A hold is admitted only if, for every budget of the call (its key's, its account's, its
  team's and the teams above), `spent + reserved + amount (+ margin) <= limit` in the budget's
  current window: one conditional UPDATE per budget. If one does not fit, the ones before it
  are undone in the same transaction and the hold is refused, naming that budget.
- A window starts over lazily, exactly once: the first hold that finds its budget's row in a
  window that is no longer the current one moves it with one UPDATE conditional on the row's
  window start, spend and holds as it read them (any concurrent change makes it fail and look
  again), and writes the closed window as a `BudgetPeriod`. No cron, no reset job: every
  instance and worker computes the same boundaries (budgets.windows) from the budgets' clock.
- A call belongs to the window that admitted it: its hold names the windows it was taken in
  (`Hold.lines`), and its usage row books its cost there, in the budget row while that window
  is current, else in the closed window's `BudgetPeriod`. Since the cost never exceeds the hold,
  `spent <= limit` holds for every window, current or closed, at every commit.
- Settling a batch raises a budget event (alerts) for each threshold its spend crosses in a
  window, in the same transaction, from the spend it reads where it already stands on the rows
  (budgets.alerting).
- Locks are taken in one order (holds, budgets by id, accounts by id) on PostgreSQL, so two
  batches that share a team budget cannot deadlock.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from budgets.alerting import crossings, events_raise, spend_read
from budgets.clock import budget_now
from budgets.models import Budget, BudgetPeriod, Hold
from budgets.windows import Period, Window, WindowSpec, window_at
from core.ledger_tx import ledger_atomic
from core.money import USD_QUANTUM, ZERO, units_value
from usage.models import UsageLog
from usage.services import UsageEntry, usage_record, usage_record_many

# Where an amount is held or booked: (budget id, start of its window as ISO text, or None for lifetime).
LineRef = tuple[str, str | None]
_ROLL_TRIES = 3


@dataclass(frozen=True)
class BudgetLine:
    """One budget a call must fit, as the hot path caches it (budgets.selectors)."""

    budget_id: str
    level: str
    owner: str  # e.g. "team ml-research": for errors and alerts
    owner_ref: str  # how the API names the owner: the key's id, the account's user_id, the team's slug
    label: str  # e.g. "monthly (Europe/Paris)"
    limit_usd: Decimal
    spec: WindowSpec


@dataclass(frozen=True)
class HoldRequest:
    account_id: Any
    hold_id: uuid.UUID
    amount: Decimal
    lines: tuple[BudgetLine, ...]
    margin: Decimal = ZERO  # must be left over besides the amount (a lease's headroom); checked, not held


@dataclass(frozen=True)
class Refusal:
    """Which budget refused a hold, what was left of it and when its window starts over."""

    line: BudgetLine | None  # None: the account itself is inactive
    remaining_usd: Decimal
    resets_at: datetime | None
    spent_usd: Decimal = ZERO
    reserved_usd: Decimal = ZERO  # held for calls in flight


@dataclass(frozen=True)
class HoldResult:
    refusal: Refusal | None
    refs: tuple[LineRef, ...] = ()
    until: datetime | None = None  # the earliest end among the windows held in (a lease admits no call after it)

    @property
    def admitted(self) -> bool:
        return self.refusal is None


def _iso(start: datetime | None) -> str | None:
    return None if start is None else start.isoformat()


def _parse(start: str | None) -> datetime | None:
    return None if start is None else datetime.fromisoformat(start)


def _in_window(budget_id: Any, start: datetime | None) -> Any:
    rows = Budget.objects.filter(pk=budget_id)
    return rows.filter(window_start__isnull=True) if start is None else rows.filter(window_start=start)


def _lock(budget_ids: Iterable[Any], account_ids: Iterable[Any], *, read: bool = False) -> dict[str, Any] | None:
    """PostgreSQL: row locks in one global order, so batches sharing budgets never deadlock (elsewhere no-op).

    With `read`, returns the locked budgets' spend as it stands (budgets.alerting) from the locking query
    itself; None where nothing was locked (other engines: the caller reads it if it needs it).
    """
    if connections["default"].vendor != "postgresql":
        return None
    rows: dict[str, Any] = {}
    if read:
        rows = spend_read(budget_ids=set(budget_ids), lock=True)
    else:
        list(Budget.objects.select_for_update().filter(pk__in=set(budget_ids)).order_by("pk").values_list("pk"))
    list(Account.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk").values_list("pk"))
    return rows


def _try_line(budget_id: str, start: datetime | None, amount: Decimal, needed: Decimal) -> bool:
    return bool(
        _in_window(budget_id, start)
        .alias(committed=F("spent_usd") + F("reserved_usd") + units_value(needed))
        .filter(committed__lte=F("limit_usd"))
        .update(reserved_usd=F("reserved_usd") + units_value(amount))
    )


def _roll(budget_id: str, window: Window) -> bool:
    """Starts the budget's row over in `window` if it is still in another; True if it moved (look again)."""
    row = (
        Budget.objects.filter(pk=budget_id)
        .values("window_start", "spent_usd", "reserved_usd", "limit_usd", "period", "interval_seconds")
        .first()
    )
    if row is None or row["window_start"] == window.start:
        return False  # gone, or already in this window: the hold simply does not fit
    old = row["window_start"]
    moved = (
        _in_window(budget_id, old)
        .filter(spent_usd=row["spent_usd"], reserved_usd=row["reserved_usd"])
        .update(window_start=window.start, spent_usd=ZERO, reserved_usd=ZERO)
    )
    if moved and old is not None:
        _close(budget_id, old, row)
    return True  # moved by us, or changed by someone else meanwhile: either way, try the hold again


def _close(budget_id: str, start: datetime, row: Mapping[str, Any]) -> None:
    """Keeps a window that ended as history; its calls still in flight settle into it."""
    budget = Budget.objects.get(pk=budget_id)
    end = window_at(budget.spec, start).end if budget.period != Period.LIFETIME else None
    if end is None or end <= start:
        end = budget_now()  # the period was changed: the old window ends now
    existing = BudgetPeriod.objects.filter(budget_id=budget_id, start=start)
    if not existing.update(
        spent_usd=F("spent_usd") + units_value(row["spent_usd"]),
        reserved_usd=F("reserved_usd") + units_value(row["reserved_usd"]),
    ):
        BudgetPeriod.objects.create(
            budget_id=budget_id,
            start=start,
            end=end,
            limit_usd=row["limit_usd"],
            spent_usd=row["spent_usd"],
            reserved_usd=row["reserved_usd"],
        )


def _refusal(line: BudgetLine, window: Window) -> Refusal:
    row = _in_window(line.budget_id, window.start).values("limit_usd", "spent_usd", "reserved_usd").first()
    if row is None:  # deleted, or its window rolled, since the plan was cached
        return Refusal(line=line, remaining_usd=ZERO, resets_at=window.end)
    left = row["limit_usd"] - row["spent_usd"] - row["reserved_usd"]
    return Refusal(
        line=line,
        remaining_usd=max(left, ZERO),
        resets_at=window.end,
        spent_usd=row["spent_usd"],
        reserved_usd=row["reserved_usd"],
    )


def _move(ref: LineRef, *, spent: Decimal = ZERO, reserved: Decimal = ZERO) -> None:
    """Books into the window `ref` names: the budget row while it is current, else its closed period."""
    budget_id, start_text = ref
    start = _parse(start_text)
    changes = {
        "spent_usd": F("spent_usd") + units_value(spent),
        "reserved_usd": F("reserved_usd") + units_value(reserved),
    }
    if not _in_window(budget_id, start).update(**changes) and start is not None:
        BudgetPeriod.objects.filter(budget_id=budget_id, start=start).update(**changes)


def _hold_lines(lines: Sequence[BudgetLine], amount: Decimal, needed: Decimal, now: datetime) -> HoldResult:
    refs: list[LineRef] = []
    ends = []
    for line in lines:
        window = window_at(line.spec, now)
        fits = _try_line(line.budget_id, window.start, amount, needed)
        for _ in range(_ROLL_TRIES):
            if fits or not _roll(line.budget_id, window):
                break
            fits = _try_line(line.budget_id, window.start, amount, needed)
        if not fits:
            for ref in refs:  # undo the budgets it fitted so far: a hold is on all of them or none
                _move(ref, reserved=-amount)
            return HoldResult(refusal=_refusal(line, window))
        refs.append((line.budget_id, _iso(window.start)))
        if window.end is not None:
            ends.append(window.end)
    return HoldResult(refusal=None, refs=tuple(refs), until=min(ends) if ends else None)


@ledger_atomic()
def budget_reserve_many(*, holds: Sequence[HoldRequest]) -> list[HoldResult]:
    """Holds each request's amount on every window it must fit, in order, in one transaction.

    Each conditional UPDATE sees the ones before it, so holds in one batch are checked against
    each other exactly as if they came one by one; one commit serves them all.
    """
    _lock((line.budget_id for hold in holds for line in hold.lines), (hold.account_id for hold in holds))
    now = budget_now()
    results, rows = [], []
    for hold in holds:
        amount = max(hold.amount, USD_QUANTUM)  # at least one unit: a budget at its limit admits nothing
        result = _hold_lines(hold.lines, amount, amount + hold.margin, now)
        if result.admitted and not (
            Account.objects.filter(pk=hold.account_id, is_active=True).update(
                reserved_usd=F("reserved_usd") + units_value(amount)
            )
        ):
            for ref in result.refs:  # deactivated since its key was cached: refused like a spent budget
                _move(ref, reserved=-amount)
            result = HoldResult(refusal=Refusal(line=None, remaining_usd=ZERO, resets_at=None))
        results.append(result)
        if result.admitted:
            rows.append(Hold(id=hold.hold_id, account_id=hold.account_id, amount_usd=amount, lines=list(result.refs)))
    Hold.objects.bulk_create(rows)
    return results


# request id, account id, cost, the windows the cost books into (those its hold or lease was taken in; empty:
# the hold's or the lease's own, for rows journaled before windows existed), the lease it drew from (or None)
Settlement = tuple[uuid.UUID, Any, Decimal, Sequence[LineRef], uuid.UUID | None]
Draw = tuple[uuid.UUID, Any, Decimal]  # lease id, account id, the worst case the call drew from the lease


def _refs(lines: Any) -> list[LineRef]:
    return [(str(budget_id), start) for budget_id, start in lines or ()]


@ledger_atomic(savepoint=False)  # its own transaction, or the caller's (the usage rows'), never a savepoint
def budget_settle(*, settlements: Sequence[Settlement], draws: Sequence[Draw] = ()) -> None:
    """Books each request's cost in its windows and its account, and releases what it held, in one transaction.

    The hold is looked up by the request id, not trusted from the caller, so a request whose hold
    the sweeper already released (or that never had one) only adds its cost. A call admitted from a
    budget lease has no hold of its own: its `draws` entry moves its worst case out of the lease,
    if the lease is still there (one released already returned it).
    Sequences, not any iterables: on MongoDB a transaction that conflicts is run again with the same arguments.
    """
    drawn: dict[uuid.UUID, tuple[Any, Decimal]] = {}
    for drawn_from, account_id, amount in draws:
        drawn[drawn_from] = (account_id, drawn.get(drawn_from, (account_id, ZERO))[1] + amount)
    holds = {
        row["id"]: row
        for row in Hold.objects.select_for_update()
        .filter(id__in=[request_id for request_id, *_ in settlements] + list(drawn))
        .order_by("id")  # two batches drawing from the same leases lock them in one order
        .values("id", "amount_usd", "lines")
    }
    if own := [request_id for request_id, *_ in settlements if request_id in holds]:
        Hold.objects.filter(id__in=own).delete()
    accounts: dict[Any, tuple[Decimal, Decimal]] = {}  # account: (released, spent)
    windows: dict[LineRef, tuple[Decimal, Decimal]] = {}  # window: (released, spent)

    def book(target: dict[Any, tuple[Decimal, Decimal]], key: Any, released: Decimal, spent: Decimal) -> None:
        before = target.get(key, (ZERO, ZERO))
        target[key] = (before[0] + released, before[1] + spent)

    for request_id, account_id, cost, refs, lease_id in settlements:
        hold = holds.get(request_id)
        released = hold["amount_usd"] if hold else ZERO
        book(accounts, account_id, released, cost)
        source = hold or (holds.get(lease_id) if lease_id else None)
        for ref in _refs(refs) or _refs(source["lines"] if source else ()):
            book(windows, ref, ZERO, cost)
        for ref in _refs(hold["lines"] if hold else ()):
            book(windows, ref, released, ZERO)
    for lease_id, (account_id, amount) in drawn.items():
        if (lease := holds.get(lease_id)) is None:
            continue
        moved = min(amount, lease["amount_usd"])
        Hold.objects.filter(id=lease_id).update(amount_usd=F("amount_usd") - units_value(moved))
        book(accounts, account_id, moved, ZERO)
        for ref in _refs(lease["lines"]):
            book(windows, ref, moved, ZERO)
    booked = {ref: spent for ref, (_, spent) in windows.items() if spent > 0}
    before = _lock((budget_id for budget_id, _ in windows), accounts, read=bool(booked))
    if booked and before is None:  # one read in this transaction: exact (budgets.alerting says why)
        before = spend_read(budget_ids={budget_id for budget_id, _ in booked})
    for ref in sorted(windows, key=lambda r: (r[0], r[1] or "")):
        released, spent = windows[ref]
        if released or spent:
            _move(ref, spent=spent, reserved=-released)
    if booked and (found := crossings(booked=booked, before=before or {})):
        events_raise(found=found)  # with the spend that crossed them: both commit, or neither
    # Accounts in one order in every transaction: two instances settling batches that share accounts
    # otherwise deadlock on PostgreSQL (seen with three instances behind nginx, bench/instances.py).
    for account_id, (released, spent) in sorted(accounts.items(), key=lambda item: str(item[0])):
        if released or spent:
            Account.objects.filter(pk=account_id).update(
                spent_usd=F("spent_usd") + units_value(spent), reserved_usd=F("reserved_usd") - units_value(released)
            )


@ledger_atomic()
def hold_release(*, hold_id: Any) -> bool:
    """Releases one hold whose request will never settle; False if it was settled or released meanwhile."""
    hold = Hold.objects.select_for_update().filter(pk=hold_id).values("account_id", "amount_usd", "lines").first()
    if hold is None or Hold.objects.filter(pk=hold_id).delete()[0] != 1:
        return False
    refs = _refs(hold["lines"])
    # Its budgets in the one global order before changing them (a lease's lines run key, account, team:
    # against a hold's ordered locks, that order deadlocked on PostgreSQL in the two-process test).
    _lock((budget_id for budget_id, _ in refs), [hold["account_id"]])
    for ref in refs:
        _move(ref, reserved=-hold["amount_usd"])
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
        settlements=[
            (e.request_id, e.account_id, e.cost_usd, e.budget_refs, uuid.UUID(e.lease_id) if e.lease_id else None)
            for e in entries
        ],
        draws=[(uuid.UUID(e.lease_id), e.account_id, e.lease_draw_usd) for e in entries if e.lease_id],
    )


@ledger_atomic()
def usage_book(*, entry: UsageEntry) -> UsageLog:
    """One row and its settlement, in one transaction."""
    row = usage_record(entry=entry)
    _settle([entry])
    return row
