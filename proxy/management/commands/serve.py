"""`manage.py serve`: runs the gateway's ASGI application under uvicorn."""

from typing import Any

import uvicorn
from django.core.management.base import BaseCommand, CommandParser

APP = "gateway_project.asgi:application"


class Command(BaseCommand):
    help = "Serves the gateway with uvicorn (several worker processes with --workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        # An import string, not the app object: uvicorn can only start worker processes from one.
        uvicorn.run(
            APP,
            host=options["host"],
            port=options["port"],
            workers=max(options["workers"], 1),
            lifespan="auto",
            proxy_headers=True,
        )
