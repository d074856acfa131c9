"""Holds and settles calls on an account's and its team's budgets, racing its twin process:
`python -m tests.budgets.settle_peer AT USER_ID CALLS COST`.

Waits for the wall-clock time AT (so both processes start together), then makes CALLS calls of COST USD
from each of THREADS threads, each a hold on every budget of the account and its team settled at once
(as the usage writer settles a batch of one); prints how many were admitted.
"""

import json
import sys
import threading
import time
import uuid
from decimal import Decimal

import django

THREADS = 2


def calls(user_id: str, count: int, cost: Decimal, admitted: list[int]) -> None:
    from django.db import connection
    from django.db.models import Q

    from accounts.models import Account
    from budgets.ledger import HoldRequest, budget_reserve_many, budget_settle
    from budgets.models import Budget
    from budgets.services import budget_line

    account = Account.objects.get(user_id=user_id)
    budgets = Budget.objects.filter(Q(account=account) | Q(team__accounts=account))
    lines = tuple(budget_line(budget) for budget in budgets.select_related("account", "team").order_by("pk"))
    mine = 0
    for _ in range(count):
        request = HoldRequest(account.pk, uuid.uuid4(), cost, lines)
        (result,) = budget_reserve_many(holds=[request])
        if result.admitted:
            budget_settle(settlements=[(request.hold_id, account.pk, cost, result.refs, None)])
            mine += 1
    admitted.append(mine)
    connection.close()


def main() -> None:
    start_at, user_id, count, cost = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Decimal(sys.argv[4])
    django.setup()
    from budgets.models import Budget

    Budget.objects.exists()  # connected before the start, so the race is over the rows
    time.sleep(max(0.0, start_at - time.time()))
    admitted: list[int] = []
    threads = [threading.Thread(target=calls, args=(user_id, count, cost, admitted)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"admitted": sum(admitted)}))


if __name__ == "__main__":
    main()
