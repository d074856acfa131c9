"""A clock the tests set: named by the BUDGET_CLOCK setting (GATEWAY_BUDGET_CLOCK), the budgets' documented hook.

Served gateways read it from a file (GATEWAY_TEST_CLOCK_FILE: an ISO time, or empty for the real time), so a
test can move every process's budget clock at once.
"""

import os
from datetime import datetime
from pathlib import Path

from django.utils import timezone


class Clock:
    """The time in-process tests set; None follows the real clock."""

    now: datetime | None = None


def now() -> datetime:
    path = os.environ.get("GATEWAY_TEST_CLOCK_FILE")
    if path:
        text = Path(path).read_text().strip() if Path(path).exists() else ""
        return datetime.fromisoformat(text) if text else timezone.now()
    return Clock.now or timezone.now()
