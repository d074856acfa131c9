"""Prepares the benchmark's throwaway database through the project's own services; prints the keys as JSON.

Run in its own process with the bench environment (`DATABASE_URL` pointing at a temp SQLite
file): migrates, creates a budgeted and an unlimited account with one key each (and, where budget levels
exist, a key whose key, account and team have a daily and a lifetime budget each), and prices
for the benchmark model and the Claude model of the cross-format calls, so admission, the
budget hold and pricing all run as in production. It uses only services that commit eb247a6
already had: the harness runs it on an older checkout's code too (`--old-root`).
"""

import json
import os
from decimal import Decimal
from typing import Any

import django

MODEL = "gpt-4o-mini"
CROSS_MODEL = "claude-haiku-4-5"  # Anthropic's price; answered by the mock's /v1/messages
# The other cross-format calls' models (bench/crosses.py), each with its provider's price.
CROSS_PRICES = (("gemini-2.5-flash", "gemini", "0.30", "2.50"), ("command-r-08-2024", "cohere", "0.15", "0.60"))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    django.setup()
    from django.core.management import call_command

    from keys.services import key_create
    from pricing.services import cost_upsert

    try:  # budget windows and levels: this checkout
        from budgets.services import account_open as account_create
    except ImportError:  # an older checkout (--old-root): accounts with a budget_usd
        from accounts.services import account_create  # type: ignore[attr-defined,no-redef,assignment]

    call_command("migrate", verbosity=0, interactive=False)
    cost_upsert(model=MODEL, provider="openai", input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))
    cost_upsert(model=CROSS_MODEL, provider="anthropic", input_per_mtok=Decimal("1"), output_per_mtok=Decimal("5"))
    for model, provider, inputs, outputs in CROSS_PRICES:
        cost_upsert(model=model, provider=provider, input_per_mtok=Decimal(inputs), output_per_mtok=Decimal(outputs))
    # A budget no run can exhaust: the point is to exercise the conditional UPDATE, not to hit 402.
    budgeted = account_create(user_id="bench-budget", budget_usd=Decimal("1000000"))
    unlimited = account_create(user_id="bench-unlimited", budget_usd=None)
    keys = {
        "budget": key_create(account=budgeted, name="bench").raw,
        "unlimited": key_create(account=unlimited, name="bench").raw,
    }
    if levels := _levels(key_create):
        keys["levels"] = levels
    print(json.dumps({"model": MODEL, "cross_model": CROSS_MODEL, "keys": keys}))


def _levels(key_create: Any) -> str | None:
    """A key, its account and its team, each with two budgets (daily and lifetime): every call holds on six
    windows. None on a checkout without budget levels."""
    try:
        from budgets.services import account_open, budget_create, team_create
    except ImportError:
        return None
    team = team_create(slug="bench-team")
    account = account_open(user_id="bench-levels", team=team)
    key = key_create(account=account, name="bench")
    for owner in (team, account, key.key):
        budget_create(owner=owner, limit_usd=Decimal("1000000"), period="day")
        budget_create(owner=owner, limit_usd=Decimal("1000000"))
    return str(key.raw)


if __name__ == "__main__":
    main()
