"""`manage.py load_pricing`: the project's pricing.json over LiteLLM's bundled cost map, upserted idempotently."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from pricing.services import cost_load
from pricing.sources import pricing_entries


class Command(BaseCommand):
    help = "Loads model prices (pricing/data/pricing.json, then LiteLLM's cost map) and prints one summary line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> str:
        entries = pricing_entries()
        quiet = options["quiet"] or not sys.stderr.isatty()
        progress = tqdm(entries, desc="prices", unit="model", file=sys.stderr, disable=quiet)
        counts = cost_load(entries=progress)
        return f"created {counts['created']}, updated {counts['updated']}, unchanged {counts['unchanged']}"
