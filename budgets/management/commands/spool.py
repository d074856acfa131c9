"""`manage.py spool`: shows the usage rows waiting in the local spool, and with --drain writes them now."""

from typing import Any

from django.core.management.base import CommandParser

from budgets.spool import spool_depth, spool_files
from budgets.upkeep import replay_spool
from core.commands import GatewayCommand


class Command(GatewayCommand):
    help = "Shows the spool of usage rows the database could not take; --drain replays it into the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--drain", action="store_true", help="write the spooled rows now (idempotent)")

    def handle(self, *args: Any, **options: Any) -> str:
        for row in spool_files():
            label = "dead letters (refused by the database)" if row["dead"] else "waiting"
            self.stdout.write(f"{row['file']}: {row['entries']} {label}")
        if options["drain"]:
            written = replay_spool()
            return f"wrote {written} rows; {spool_depth()} still waiting"
        return f"{spool_depth()} rows waiting"
