"""`manage.py prune_usage`: archives usage rows older than a date to gzip JSON lines, then deletes them in batches."""

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from budgets.spool import spool_depth
from usage.retention import ARCHIVE_ROWS, DELETE_BATCH, PruneError, usage_prune, usage_prune_check, usage_prune_count

# Test hook (tests/usage/test_prune_usage.py): the command stops for good after its first step of this kind
# ("pending", "archived", "deleted" or "resumed"), having said so on stderr, so a test can SIGKILL it exactly there.
PAUSE_ENV = "GATEWAY_PRUNE_PAUSE_AFTER"


def _cutoff(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--before must be an ISO date or time (2026-01-31, 2026-01-31T12:00): {text!r}") from None
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Archives usage rows created before --before (to --archive DIR, gzip JSON lines) and deletes them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="ISO date or time (UTC unless it says otherwise)")
        parser.add_argument("--archive", type=Path, help="folder for the archives; without it rows are only deleted")
        parser.add_argument("--dry-run", action="store_true", help="say how many rows would go, change nothing")
        parser.add_argument("--batch", type=int, default=DELETE_BATCH, help="rows per delete transaction")
        parser.add_argument("--pause", type=float, default=0.05, help="seconds between two delete transactions")
        parser.add_argument("--archive-rows", type=int, default=ARCHIVE_ROWS, help="rows per archive file")

    def handle(self, *args: Any, **options: Any) -> str:
        before, folder = _cutoff(options["before"]), options["archive"]
        try:
            usage_prune_check(before=before)
            if spool_depth():
                raise PruneError("rows wait in this host's spool (older ones too): `manage.py spool --drain` first")
            if options["dry_run"]:
                rows = usage_prune_count(before=before)
                return f"dry run: {rows} usage rows created before {before.isoformat()} would be archived and deleted"
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
            return self._prune(before, folder and folder.resolve(), options)
        except PruneError as exc:
            raise CommandError(str(exc)) from None

    def _prune(self, before: dt.datetime, folder: Path | None, options: dict[str, Any]) -> str:
        steps = usage_prune(
            before=before,
            archive_dir=folder,
            archive_rows=max(options["archive_rows"], 1),
            delete_batch=max(options["batch"], 1),
        )
        archived = deleted = files = resumed = 0
        pause_after = os.environ.get(PAUSE_ENV, "")
        for step in steps:
            files += step.kind == "archived"
            archived += step.rows if step.kind == "archived" else 0
            deleted += step.rows if step.kind == "deleted" else 0
            resumed += step.kind == "resumed"
            if step.kind == pause_after:
                sys.stderr.write(f"paused after {step.kind} {step.path or ''}\n")
                sys.stderr.flush()
                time.sleep(3600)
            if step.kind == "deleted":
                time.sleep(max(options["pause"], 0))
        where = f"archived {archived} rows into {files} files in {folder}" if folder else "no archive"
        again = f"; finished {resumed} archive left by an interrupted run" if resumed else ""
        return f"deleted {deleted} usage rows created before {before.isoformat()} ({where}){again}"
