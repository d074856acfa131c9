"""`manage.py usage_rollups check|rebuild`: compares the rollups with the usage rows, or remakes them from the rows."""

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.rollups import rollups_check, rollups_pruned, rollups_rebuild

_SHOWN = 20  # differences printed; the count says how many there are


class Command(BaseCommand):
    help = (
        "check: compares every rollup bucket with the sums of its usage rows (exit 1 if any differs). "
        "rebuild: replaces the rollups with sums of the rows; run it with no gateway writing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("check", "rebuild"))
        parser.add_argument("--force", action="store_true", help="rebuild even though rows were pruned")

    def handle(self, *args: Any, action: str, force: bool = False, **options: Any) -> None:
        started = time.monotonic()
        pruned = rollups_pruned()
        if action == "rebuild":
            if pruned is not None and not force:
                raise CommandError(
                    "usage rows were pruned (prune_usage): their sums live only in the rollups, and a rebuild "
                    "from the rows would drop them. --force rebuilds anyway."
                )
            written = rollups_rebuild()
            self.stdout.write(f"rebuilt: {written} rollup rows in {time.monotonic() - started:.1f} s")
            return
        differences = rollups_check(since=pruned)
        if pruned is not None:
            self.stdout.write(f"rows were pruned: checking the buckets from {pruned:%Y-%m-%d} on")
        if not differences:
            self.stdout.write(f"the rollups equal the rows ({time.monotonic() - started:.1f} s)")
            return
        for line in differences[:_SHOWN]:
            self.stderr.write(line)
        self.stderr.write(f"{len(differences)} differences; `manage.py usage_rollups rebuild` makes them again")
        sys.exit(1)
