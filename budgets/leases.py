"""Budget leases: a worker holds a slice of a call's budgets once, then admits many calls from it in memory.

A per-call hold is a database write before every call can start (the budgeted account's share
of the added latency, bench/). A lease is an ordinary hold (budgets.models.Hold, counted in each
of its budget windows' `reserved_usd` and the account's) of GATEWAY_BUDGET_LEASE_CALLS times a
call's worst case on every budget of the call's plan (its key's, account's and teams'), taken
only while at least _HEADROOM times the lease is left in each, so leases never tie up much of
what other workers and instances could use. Each call admitted from it draws its own worst case
(proxy.admission, budgets.holds) in process memory, and its usage row's transaction moves that
amount out of the lease as it books the cost in the lease's windows (budgets.ledger.budget_settle).
So every window's `reserved_usd` stays the sum of the holds on it, spent + reserved never passes
a limit, and the worst case bounds each call exactly as with a hold of its own.

A lease admits calls for at most _window() seconds (its calls then end well before the sweeper
would take it for a dead worker's), never past the end of the first of its budget windows (a
call belongs to the window that admitted it), while what is left covers the call, and while the
plan (every budget's limit and window, the account's state) is the one it was taken under: an
operator's edit reaches every instance's cache (core.cache), and the next call closes the lease.
Closed, or idle for _IDLE seconds, it is released once its last call's row is queued: the release
is written after that row (budgets.writer.UsageWriter), returning what no call used. A worker
that dies leaves its lease to the sweeper, like any hold. Near the end of a budget no lease fits
and calls take holds of their own again, so the last cents are shared exactly as before.
"""

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from budgets.clock import budget_now
from budgets.ledger import HoldRequest, HoldResult, LineRef
from budgets.selectors import BudgetPlan
from budgets.writer import usage_writer
from core.money import USD_QUANTUM, ZERO
from core.tasks import call_deadline, spawn

_HEADROOM = 8  # a lease is taken only while this many times its amount is left of the budget
_IDLE = 1.0  # seconds without a call in flight after which a lease is released
_REFUSED_PAUSE = 5.0  # seconds an account whose lease was refused takes holds per call before trying again


def _window() -> float:
    """Seconds a lease admits calls: its last call must end (it may run GATEWAY_HOLD_TTL − 60 s) before the sweep."""
    return max(min(30.0, (settings.HOLD_TTL - call_deadline()) / 2), 0.5)


@dataclass(eq=False)
class Lease:
    id: uuid.UUID
    plan: BudgetPlan  # the budgets as cached when it was taken: an edit (a limit, a window, the account) closes it
    amount: Decimal
    until: float  # loop time after which it admits no more calls: its window, or the first budget window's end
    refs: tuple[LineRef, ...] = ()  # the budget windows it holds in, where its calls' costs are booked
    drawn: Decimal = ZERO
    inflight: int = 0  # calls admitted from it whose rows are not queued yet
    idle_since: float = 0.0
    closed: bool = False
    released: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


# Takes a hold through the hold batcher (budgets.holds); resolves to whether it fit, and where.
Reserve = Callable[[HoldRequest], "asyncio.Future[HoldResult]"]


class LeaseBook:
    """This event loop's leases, one open per budget plan at most (keyed by `BudgetPlan.lease_key`). Event-loop
    thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.open: dict[Any, Lease] = {}
        self.taking: dict[Any, asyncio.Future[None]] = {}
        self.refused_until: dict[Any, float] = {}
        self.seen: dict[Any, float] = {}  # when each plan last called, by loop time

    def draw(self, plan: BudgetPlan, amount: Decimal) -> Lease | None:
        """The plan's open lease with `amount` drawn from it, or None (no lease, or it cannot cover the call)."""
        lease = self.open.get(plan.lease_key)
        if lease is None:
            return None
        if lease.plan != plan or self.loop.time() >= lease.until:
            self._close(lease)  # a budget or the account was edited, or the lease is past its window
            return None
        if lease.drawn + amount > lease.amount:
            return None  # a hold of its own, or a new lease, which replaces this one; smaller calls may still fit
        self.seen[plan.lease_key] = self.loop.time()
        lease.drawn += amount
        lease.inflight += 1
        return lease

    def wanted(self, plan: BudgetPlan, amount: Decimal) -> bool:
        """Whether a lease should serve this call: every budget's limit is far above the call's worst case,
        and the plan was called within the last _IDLE seconds (a lone call takes a hold: a lease costs two writes)."""
        key, now, calls = plan.lease_key, self.loop.time(), settings.BUDGET_LEASE_CALLS
        previous, self.seen[key] = self.seen.get(key), now
        return (
            calls > 0
            and bool(plan.lines)
            and amount * calls * _HEADROOM <= min(line.limit_usd for line in plan.lines)
            and previous is not None
            and now - previous < _IDLE
            and self.refused_until.get(key, 0.0) <= now
        )

    async def take(self, plan: BudgetPlan, amount: Decimal, reserve: Reserve) -> Lease | None:
        """Takes a lease for the plan (or waits for the one being taken) and draws `amount` from it.

        None: the budget has no room for a lease (the caller takes a hold of its own). The lease is
        taken by a task of its own, so a caller cancelled meanwhile leaves no lease unaccounted for.
        """
        key = plan.lease_key
        pending = self.taking.get(key)
        if pending is None:
            pending = self.taking[key] = self.loop.create_future()
            lease_amount = max(amount * settings.BUDGET_LEASE_CALLS, USD_QUANTUM)  # as budget_reserve_many holds it
            spawn(self._take(plan, lease_amount, reserve, pending))
        await asyncio.shield(pending)
        return self.draw(plan, amount)

    async def _take(self, plan: BudgetPlan, amount: Decimal, reserve: Reserve, done: "asyncio.Future[None]") -> None:
        key = plan.lease_key
        lease = Lease(id=uuid.uuid4(), plan=plan, amount=amount, until=0.0)
        result = None
        try:
            with contextlib.suppress(Exception):  # the callers' own holds meet the same fault and report it
                request = HoldRequest(plan.account.id, lease.id, amount, plan.lines, margin=amount * (_HEADROOM - 1))
                result = await reserve(request)
        finally:
            # Cancelled (shutdown) after the write, a lease is left to the sweeper; the callers go on either way.
            del self.taking[key]
            if result is not None and result.admitted:
                lease.refs = result.refs
                lease.until = self.loop.time() + _window()
                if result.until is not None:  # no call is admitted from it into the next budget window
                    lease.until = min(lease.until, self.loop.time() + (result.until - budget_now()).total_seconds())
                if (previous := self.open.get(key)) is not None:
                    self._close(previous)
                self.open[key] = lease
                self._idle(lease)  # released if no call draws from it
            else:
                self.refused_until[key] = self.loop.time() + _REFUSED_PAUSE
            done.set_result(None)

    def done(self, lease: Lease) -> None:
        """A call admitted from the lease has its row queued (proxy.accounting.call_finished)."""
        lease.inflight -= 1
        if lease.inflight:
            return
        if lease.closed:
            self._release(lease)
        else:
            self._idle(lease)

    def close_all(self) -> None:
        """No more calls from any lease (drain, shutdown): idle ones are released now, the others after their calls."""
        for lease in list(self.open.values()):
            self._close(lease)

    def _idle(self, lease: Lease) -> None:
        lease.idle_since = self.loop.time()
        if lease.timer is None:
            lease.timer = self.loop.call_later(_IDLE, self._idle_check, lease)

    def _idle_check(self, lease: Lease) -> None:
        lease.timer = None
        if lease.closed or lease.inflight:
            return  # released with its last call, or rechecked when its calls are done
        idle_for = self.loop.time() - lease.idle_since
        if idle_for >= _IDLE or self.loop.time() >= lease.until:
            self._close(lease)
        else:
            lease.timer = self.loop.call_later(_IDLE - idle_for, self._idle_check, lease)

    def _close(self, lease: Lease) -> None:
        if lease.closed:
            return
        lease.closed = True
        if self.open.get(lease.plan.lease_key) is lease:
            del self.open[lease.plan.lease_key]
        if not lease.inflight:
            self._release(lease)  # else with its last call (`done`)

    def _release(self, lease: Lease) -> None:
        if lease.released:
            return
        lease.released = True
        if lease.timer is not None:
            lease.timer.cancel()
            lease.timer = None
        usage_writer(self.loop).release_lease(lease.id)  # the writer orders the release after the lease's rows


@functools.cache
def lease_book(loop: asyncio.AbstractEventLoop) -> LeaseBook:
    return LeaseBook(loop)
