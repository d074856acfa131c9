"""Budget holds on the hot path: drawn from a lease in memory, or taken in batched transactions.

A call's worst case (proxy.admission) is held on every budget of its plan (budgets.selectors)
before the provider is called: drawn from this worker's budget lease for the plan when one
covers it (no write at all, budgets.leases), else as a hold of its own, batched with the other
calls waiting (one transaction for up to _MAX_HOLDS holds on the writer thread,
core.pool.in_writer). A refusal names the budget that refused, what was left and when its
window starts over.
"""

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import DatabaseError

from budgets.leases import Lease, lease_book
from budgets.ledger import HoldRequest, HoldResult, LineRef, Refusal, budget_reserve_many
from budgets.selectors import BudgetPlan
from budgets.writer_state import writer_state
from core.errors import BudgetExceeded, GatewayError, GatewayUnavailable, Unauthenticated
from core.money import usd_text
from core.pool import in_writer
from core.tasks import Batcher

log = logging.getLogger(__name__)
_MAX_HOLDS = 200
_UNAVAILABLE = "The gateway cannot check this account's budget right now; retry shortly."

Pending = tuple[HoldRequest, "asyncio.Future[HoldResult]"]


class HoldBatcher(Batcher[Pending]):
    """Takes budget holds in batches (core.tasks.Batcher): up to _MAX_HOLDS in one transaction."""

    def reserve(self, request: HoldRequest) -> asyncio.Future[HoldResult]:
        """Holds the request's amount on all its budgets if it fits them all (budgets.ledger.budget_reserve_many)."""
        future: asyncio.Future[HoldResult] = asyncio.get_running_loop().create_future()
        self.add((request, future))
        return future

    def take(self) -> list[Pending]:
        batch, self.queue = self.queue[:_MAX_HOLDS], self.queue[_MAX_HOLDS:]
        return batch

    async def flush(self, batch: list[Pending]) -> None:
        try:
            results = await in_writer(budget_reserve_many, holds=[request for request, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


@functools.cache
def hold_batcher(loop: asyncio.AbstractEventLoop) -> HoldBatcher:
    return HoldBatcher()


def refusal_error(refusal: Refusal, amount: Decimal) -> GatewayError:
    """The refusal in words: which budget (owner, window), what was left, what the call needed, when it resets."""
    line = refusal.line
    if line is None:
        return Unauthenticated("The account of this API key is inactive.")
    details: dict[str, str | None] = {
        "scope": line.level,
        "owner": line.owner_ref,
        "budget_id": line.budget_id,
        "window": line.label,
        "budget_usd": usd_text(line.limit_usd),
        "remaining_usd": usd_text(refusal.remaining_usd),
        "spent_usd": usd_text(refusal.spent_usd),
        "reserved_usd": usd_text(refusal.reserved_usd),
        "needed_usd": usd_text(amount),
        "resets_at": refusal.resets_at.isoformat() if refusal.resets_at else None,
    }
    if line.level == "account":
        details["user_id"] = line.owner_ref  # the name 402s have always carried for the account's own budget
    resets = f" Its window starts over at {details['resets_at']}." if refusal.resets_at else ""
    message = (
        f"The {line.label} budget of {line.level} '{line.owner_ref}' ({details['budget_usd']} USD) has "
        f"{details['remaining_usd']} USD left ({details['spent_usd']} spent, {details['reserved_usd']} held for calls "
        f"in flight); this request needs up to {details['needed_usd']} USD (its worst case: every input token and "
        f"the whole output ceiling).{resets} Lower max_tokens, or ask an operator to raise the budget."
    )
    return BudgetExceeded(message, extra={"budget": details})


@dataclass(frozen=True)
class Held:
    """Where a call's worst case is held: a lease (drawn in memory) or a hold of its own, and in which windows."""

    lease: Lease | None
    refs: tuple[LineRef, ...]


async def budget_hold(*, plan: BudgetPlan, request_id: uuid.UUID, amount: Decimal) -> Held:
    """Holds the call's worst case on every budget of the plan, or raises the refusal (402, 401, 503)."""
    if writer_state().down_since is not None:
        # The database refused writes moments ago: answer at once rather than tie up a thread for the
        # length of its timeout. Upkeep probes it every few seconds and clears this when it is back.
        raise GatewayUnavailable(_UNAVAILABLE)
    loop = asyncio.get_running_loop()
    leases = lease_book(loop)
    if (lease := leases.draw(plan, amount)) is not None:
        return Held(lease, lease.refs)
    if leases.wanted(plan, amount) and (lease := await leases.take(plan, amount, hold_batcher(loop).reserve)):
        return Held(lease, lease.refs)
    # Shielded: a cancelled caller must not leave a committed hold it never heard of (the
    # settlement finds it by request id either way, but only once the write has finished).
    reserve = hold_batcher(loop).reserve(HoldRequest(plan.account.id, request_id, amount, plan.lines))
    try:
        result = await asyncio.shield(reserve)
    except asyncio.CancelledError:
        await asyncio.wait([reserve])
        raise
    except DatabaseError:
        writer_state().down()
        log.warning("budget hold failed: the database is unreachable")
        raise GatewayUnavailable(_UNAVAILABLE) from None
    if result.refusal is not None:
        raise refusal_error(result.refusal, amount)
    return Held(None, result.refs)
