"""`manage.py load_pricing`: published prices (pricing.json over LiteLLM's map), never over an operator's price."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import GatewayCommand
from pricing.services import cost_load
from pricing.sources import pricing_entries


class Command(GatewayCommand):
    help = (
        "Loads published model prices (pricing/data/pricing.json, then LiteLLM's cost map) and prints one "
        "summary line. Prices set by an operator (admin or API) are kept as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="Kept for scripts: the load prints one line.")

    def handle(self, *args: Any, **options: Any) -> str:
        counts = cost_load(entries=pricing_entries(), actor=self.actor)
        return (
            f"created {counts['created']}, updated {counts['updated']}, unchanged {counts['unchanged']}, "
            f"kept {counts['kept']} set by an operator"
        )
