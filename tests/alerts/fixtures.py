"""Fixtures for the alert tests (a plugin of the whole suite: the ledger's tests use them too): real receivers, a fast
outbox, a delivery loop running beside the test."""

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.alerts.receivers import SMTPReceiver, WebhookReceiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def documented_verify() -> Callable[..., bool]:
    """`verify_signature` as docs/alerts.md prints it, run as a receiver would run it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    (snippet,) = [block for block in blocks if "def verify_signature" in block]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    return namespace["verify_signature"]


def wait_until(condition: Callable[[], Any], timeout: float = 30, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return result


WINDOW_START = datetime(2026, 12, 1, tzinfo=UTC)


def event_fields(**changes: Any) -> dict[str, Any]:
    """A monthly team budget's 80 % event; override any field."""
    fields: dict[str, Any] = {
        "budget_ref": "team:7:monthly",
        "level": "team",
        "owner_label": "ml-research",
        "window_label": "monthly",
        "window_start": WINDOW_START,
        "window_end": WINDOW_START + timedelta(days=31),
        "threshold_pct": 80,
        "limit_usd": Decimal("300"),
        "spent_usd": Decimal("240.12"),
    }
    return fields | changes


@pytest.fixture
def fast_outbox(settings: Any) -> Any:
    """Delivery on (in this process), polling, retrying and giving up in fractions of a second instead of seconds and
    hours."""
    settings.ALERT_DELIVERY = True
    settings.ALERT_POLL_INTERVAL = 0.05
    settings.ALERT_RETRY_BASE = 0.05
    settings.ALERT_RETRY_CAP = 0.3
    settings.ALERT_TIMEOUT = 2.0
    settings.ALERT_MAX_AGE = 120.0
    return settings


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[SMTPReceiver]:
    server = SMTPReceiver()
    yield server
    server.close()


@pytest.fixture
def dispatcher(transactional_db: Any, fast_outbox: Any) -> Iterator[Any]:
    """A delivery loop on an event loop of its own, as a worker runs it; stopped before the database is reset."""
    from alerts.delivery import AlertDispatcher

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="alerts-dispatcher")
    thread.start()
    running = AlertDispatcher()

    async def start() -> None:
        running.ensure_started()

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    yield running
    asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()
