"""`manage.py create_account`: creates an account through `account_create` and prints one summary line."""

from typing import Any

from django.core.management.base import CommandParser

from budgets.services import account_open
from core.commands import GatewayCommand, usd_argument


class Command(GatewayCommand):
    help = "Creates an account (budget in USD; omit it for an unlimited account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--budget", type=usd_argument, default=None, help="USD; omit for unlimited.")

    def handle(self, *args: Any, **options: Any) -> str:
        account = account_open(
            user_id=options["user_id"],
            name=options["name"],
            email=options["email"],
            budget_usd=options["budget"],
            actor=self.actor,
        )
        budget = "unlimited" if account.budget_usd is None else f"${account.budget_usd:,.2f}"
        return f"created account {account.user_id} (budget {budget})"
