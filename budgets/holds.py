"""Budget holds on the hot path: drawn from a lease in memory, or taken in batched transactions.

A call's worst case (proxy.admission) is held before the provider is called: drawn from this
worker's budget lease on the account when one covers it (no write at all, budgets.leases), else
as a hold of its own, batched with the other calls waiting (one transaction for up to
_MAX_HOLDS holds on the writer thread, core.pool.in_writer).
"""

import asyncio
import functools
import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db import DatabaseError

from accounts.selectors import AccountState, account_balance
from budgets.leases import Lease, lease_book
from budgets.services import budget_reserve_many
from budgets.writer_state import writer_state
from core.errors import BudgetExceeded, GatewayUnavailable
from core.money import ZERO, usd_text
from core.pool import in_pool, in_writer
from core.tasks import Batcher

log = logging.getLogger(__name__)
_MAX_HOLDS = 200


HoldRequest = tuple[tuple[Any, uuid.UUID, Decimal, Decimal], "asyncio.Future[bool]"]


class HoldBatcher(Batcher[HoldRequest]):
    """Takes budget holds in batches (core.tasks.Batcher): up to _MAX_HOLDS in one transaction."""

    def reserve(
        self, account_id: Any, hold_id: uuid.UUID, amount: Decimal, margin: Decimal = ZERO
    ) -> asyncio.Future[bool]:
        """Holds `amount` if `margin` more is left besides (budgets.services.budget_reserve_many)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.add(((account_id, hold_id, amount, margin), future))
        return future

    def take(self) -> list[HoldRequest]:
        batch, self.queue = self.queue[:_MAX_HOLDS], self.queue[_MAX_HOLDS:]
        return batch

    async def flush(self, batch: list[HoldRequest]) -> None:
        try:
            results = await in_writer(budget_reserve_many, holds=[hold for hold, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), admitted in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(admitted)


@functools.cache
def hold_batcher(loop: asyncio.AbstractEventLoop) -> HoldBatcher:
    return HoldBatcher()


async def budget_hold(*, account: AccountState, request_id: uuid.UUID, amount: Decimal) -> Lease | None:
    """Holds the call's worst case: drawn from this worker's lease on the account when one covers it
    (no write at all, budgets.leases), else a hold of its own. Returns the lease drawn from, if any."""
    if writer_state().down_since is not None:
        # The database refused writes moments ago: answer at once rather than tie up a thread for the
        # length of its timeout. Upkeep probes it every few seconds and clears this when it is back.
        raise GatewayUnavailable("The gateway cannot check this account's budget right now; retry shortly.")
    loop = asyncio.get_running_loop()
    leases = lease_book(loop)
    if (lease := leases.draw(account, amount)) is not None:
        return lease
    if leases.wanted(account, amount) and (lease := await leases.take(account, amount, hold_batcher(loop).reserve)):
        return lease
    # Shielded: a cancelled caller must not leave a committed hold it never heard of (the
    # settlement finds it by request id either way, but only once the write has finished).
    reserve = hold_batcher(loop).reserve(account.id, request_id, amount)
    try:
        admitted = await asyncio.shield(reserve)
    except asyncio.CancelledError:
        await asyncio.wait([reserve])
        raise
    except DatabaseError:
        writer_state().down()
        log.warning("budget hold failed: the database is unreachable")
        raise GatewayUnavailable("The gateway cannot check this account's budget right now; retry shortly.") from None
    if not admitted:
        raise await _budget_refusal(account, amount)
    return None


async def _budget_refusal(account: AccountState, needed: Decimal) -> BudgetExceeded:
    """A 402 that says which budget refused, what is left of it and what the call needed (its worst case)."""
    try:
        balance = await in_pool(account_balance, account_id=account.id)
    except DatabaseError:
        balance = None
    details: dict[str, str | None] = {"scope": "account", "user_id": account.user_id, "needed_usd": usd_text(needed)}
    said = f"The budget of account '{account.user_id}'"
    if balance is not None and balance.budget_usd is not None and balance.remaining_usd is not None:
        details |= {
            "budget_usd": usd_text(balance.budget_usd),
            "remaining_usd": usd_text(balance.remaining_usd),
            "spent_usd": usd_text(balance.spent_usd),
            "reserved_usd": usd_text(balance.reserved_usd),
        }
        said += (
            f" ({details['budget_usd']} USD) has {details['remaining_usd']} USD left "
            f"({details['spent_usd']} spent, {details['reserved_usd']} held for calls in flight)"
        )
    else:
        said += " does not have enough left"
    message = (
        f"{said}; this request needs up to {details['needed_usd']} USD (its worst case: every input token "
        "and the whole output ceiling). Lower max_tokens, or ask an operator to raise the budget."
    )
    return BudgetExceeded(message, extra={"budget": details})
