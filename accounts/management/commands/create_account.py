"""`manage.py create_account`: creates an account through `account_create` and prints one summary line."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from budgets.services import account_open


def _usd(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise CommandError(f"--budget must be a decimal number of USD, not {value!r}.") from error


class Command(BaseCommand):
    help = "Creates an account (budget in USD; omit it for an unlimited account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--budget", type=_usd, default=None, help="USD; omit for unlimited.")

    def handle(self, *args: Any, **options: Any) -> str:
        try:
            account = account_open(
                user_id=options["user_id"], name=options["name"], email=options["email"], budget_usd=options["budget"]
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        budget = "unlimited" if account.budget_usd is None else f"${account.budget_usd:,.2f}"
        return f"created account {account.user_id} (budget {budget})"
