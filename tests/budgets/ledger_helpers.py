"""The ledger driven as the hot path drives it, from an account's own budgets: for ledger tests."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from budgets.clock import budget_now
from budgets.ledger import Draw, HoldRequest, budget_reserve_many, budget_settle
from budgets.models import Budget
from budgets.services import budget_line
from budgets.windows import window_at


def lines_of(account_id: Any) -> tuple:
    """The account's budgets as a plan line each (read from the database: no cache between tests)."""
    return tuple(budget_line(budget) for budget in Budget.objects.filter(account_id=account_id).order_by("pk"))


def reserve_many(holds: Sequence[tuple]) -> list[bool]:
    """(account id, hold id, amount[, margin]) each, held on the account's budgets; whether each was admitted."""
    requests = [
        HoldRequest(account_id, hold_id, Decimal(amount), lines_of(account_id), Decimal(margin[0] if margin else 0))
        for account_id, hold_id, amount, *margin in holds
    ]
    return [result.admitted for result in budget_reserve_many(holds=requests)]


def reserve(account_id: Any, request_id: Any, amount: Any) -> bool:
    return reserve_many([(account_id, request_id, amount)])[0]


def refs_of(account_id: Any) -> tuple:
    """The windows a call of the account admitted now would book into (as its usage entry would say)."""
    now = budget_now()
    return tuple((line.budget_id, _iso(window_at(line.spec, now).start)) for line in lines_of(account_id))


def _iso(start: Any) -> Any:
    return None if start is None else start.isoformat()


def settle(settlements: Sequence[tuple], draws: Sequence[Draw] = ()) -> None:
    """(request id, account id, cost) each, booked in the account's current windows (as if admitted now)."""
    lease = draws[0][0] if draws else None
    budget_settle(
        settlements=[
            (request, account, Decimal(cost), refs_of(account), lease) for request, account, cost in settlements
        ],
        draws=draws,
    )
