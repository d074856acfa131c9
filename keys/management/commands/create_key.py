"""`manage.py create_key`: creates an API key through `key_create`; stdout carries the raw key alone."""

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import Account
from keys.services import key_create


def _expiry(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--expires must be an ISO 8601 date or time, not {value!r}.") from error
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Creates an API key for an account and prints the raw key (shown this once, never stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--models", default="", help="Comma-separated allowed models; empty = all.")
        parser.add_argument("--rpm", type=int, default=None)
        parser.add_argument("--tpm", type=int, default=None)
        parser.add_argument("--expires", type=_expiry, default=None, help="ISO 8601; naive times are UTC.")

    def handle(self, *args: Any, **options: Any) -> str:
        account = Account.objects.filter(user_id=options["user_id"]).first()
        if account is None:
            raise CommandError(f"No account with user_id {options['user_id']!r}.")
        models = [name.strip() for name in options["models"].split(",") if name.strip()]
        try:
            created = key_create(
                account=account,
                name=options["name"],
                allowed_models=models,
                rpm_limit=options["rpm"],
                tpm_limit=options["tpm"],
                expires_at=options["expires"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        # Scripts capture stdout: the key and nothing else (the prefix note goes to stderr).
        self.stderr.write(f"created key {created.key.prefix}… for {account.user_id}; store it now, it is not kept")
        return created.raw
