"""`manage.py create_key`: creates an API key through `key_create`; stdout carries the raw key alone."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.models import Account
from core.commands import GatewayCommand, expiry_argument, positive_int_argument
from keys.services import key_create


class Command(GatewayCommand):
    help = "Creates an API key for an account and prints the raw key (shown this once, never stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user-id", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--models", default="", help="Comma-separated allowed models; empty = all.")
        parser.add_argument("--rpm", type=positive_int_argument, default=None, help="requests per minute")
        parser.add_argument("--tpm", type=positive_int_argument, default=None, help="tokens per minute")
        parser.add_argument(
            "--expires",
            type=expiry_argument,
            default=None,
            help="ISO 8601 date or time (naive times are UTC), or a duration from now: 30d, 12h, 90m.",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        account = Account.objects.filter(user_id=options["user_id"]).first()
        if account is None:
            raise CommandError(f"No account with user_id {options['user_id']!r}.", returncode=2)
        models = [name.strip() for name in options["models"].split(",") if name.strip()]
        created = key_create(
            account=account,
            name=options["name"],
            allowed_models=models,
            rpm_limit=options["rpm"],
            tpm_limit=options["tpm"],
            expires_at=options["expires"],
            actor=self.actor,
        )
        # Scripts capture stdout: the key and nothing else (the prefix note goes to stderr).
        self.stderr.write(f"created key {created.key.prefix}… for {account.user_id}; store it now, it is not kept")
        return created.raw
