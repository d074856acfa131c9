"""`manage.py serve`: runs the gateway's ASGI application under uvicorn, one worker per core by default."""

import os
import shutil
import tempfile
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import CommandParser

from core.commands import GatewayCommand, positive_int_argument
from proxy.headerlimit import PROTOCOL as HEADER_LIMITED_PROTOCOL

APP = "gateway_project.asgi:application"


class Command(GatewayCommand):
    help = "Serves the gateway with uvicorn (several worker processes with --workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=positive_int_argument, default=8000)
        parser.add_argument(
            "--workers",
            type=positive_int_argument,
            default=None,
            help="worker processes (default: one per core with REDIS_URL set; 1 without, since caches, "
            "invalidations and rate limits are then per process)",
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="trust X-Forwarded-For/-Proto from a load balancer (costs a little per request)",
        )
        parser.add_argument("--access-log", action="store_true", help="log every request (usage rows already do)")

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"]
        if workers is None:
            workers = (os.cpu_count() or 1) if settings.REDIS_URL else 1
        metrics_dir = _fresh_metrics_dir()
        # An import string, not the app object: uvicorn can only start worker processes from one.
        try:
            uvicorn.run(
                APP,
                host=options["host"],
                port=options["port"],
                workers=max(workers, 1),
                lifespan="on",
                # httptools, capped: a request's line and headers stop being read at GATEWAY_MAX_HEADER_BYTES (431).
                http=HEADER_LIMITED_PROTOCOL,
                proxy_headers=options["proxy_headers"],
                access_log=options["access_log"],
                log_config=settings.LOGGING,  # uvicorn's own lines in the same format (JSON in production)
                # SIGTERM: stop accepting, give calls in flight this long, then end them as 503 with
                # their rows written (gateway_project.asgi shutdown), instead of waiting forever.
                timeout_graceful_shutdown=settings.SHUTDOWN_GRACE,
            )
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _fresh_metrics_dir() -> str:
    """An empty directory for prometheus-client's per-worker files, exported to the workers.

    Workers started by this command count into files there and `/metrics` sums them all, so a
    scrape sees every worker whichever one answers. A fresh directory per start: counts left by
    an earlier run would otherwise be added in. PROMETHEUS_MULTIPROC_DIR, when set, names the
    parent to create it under (a tmpfs or a volume).
    """
    parent = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix="gateway-metrics-", dir=parent)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path  # before any worker imports prometheus_client
    return path
