"""Runs on the fault test's own database, in its own process: `setup` makes customers, `ledger` reports the books.

The fault test's database is not the suite's (PostgreSQL is stopped under it), so the test
reaches it as an operator would: through a process started with its DATABASE_URL.
"""

import json
import sys
from datetime import timedelta
from decimal import Decimal
from typing import Any

import django


def setup(model: str, price_per_mtok: str, budget: str) -> dict[str, Any]:
    from budgets.services import account_open
    from keys.services import key_create
    from pricing.services import cost_upsert

    price = Decimal(price_per_mtok)
    cost_upsert(model=model, input_per_mtok=price, output_per_mtok=price)
    unlimited = account_open(user_id="unlimited")
    budgeted = account_open(user_id="budgeted", budget_usd=Decimal(budget))
    cold = account_open(user_id="cold")  # its key is first used while the database is away
    return {
        "unlimited": key_create(account=unlimited, name="chaos").raw,
        "budgeted": key_create(account=budgeted, name="chaos").raw,
        "cold": key_create(account=cold, name="chaos").raw,
    }


def ledger() -> dict[str, Any]:
    """Releases every hold left (what `release_holds --older-than 0` does), then reports accounts, holds and rows."""
    from accounts.models import Account
    from budgets.ledger import hold_release_stale
    from budgets.models import Hold
    from usage.models import UsageLog

    released = hold_release_stale(older_than=timedelta(0))
    accounts = {
        account.user_id: {
            "budget": str(account.budget_usd),
            "spent": str(account.spent_usd),
            "reserved": str(account.reserved_usd),
        }
        for account in Account.objects.all()
    }
    rows = [
        {
            "id": str(row["id"]),
            "account": row["account__user_id"],
            "status": row["status_code"],
            "cost": str(row["cost_usd"]),
        }
        for row in UsageLog.objects.values("id", "account__user_id", "status_code", "cost_usd")
    ]
    return {"released": released, "accounts": accounts, "holds": Hold.objects.count(), "rows": rows}


if __name__ == "__main__":
    django.setup()
    command, *args = sys.argv[1:]
    print(json.dumps(setup(*args) if command == "setup" else ledger()))
