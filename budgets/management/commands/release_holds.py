"""`manage.py release_holds`: releases budget holds whose requests can no longer settle (the sweeper, on demand)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from budgets.ledger import hold_release_stale
from core.commands import GatewayCommand


class Command(GatewayCommand):
    help = "Releases budget holds older than GATEWAY_HOLD_TTL (or --older-than seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            help="seconds (default GATEWAY_HOLD_TTL); 0 releases every hold — only with no gateway running",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        seconds = settings.HOLD_TTL if options["older_than"] is None else max(options["older_than"], 0)
        released = hold_release_stale(older_than=timedelta(seconds=seconds))
        return f"released {released} holds older than {seconds} s"
