"""Raises the same budget events as its twin, from a process of its own: `python -m tests.alerts.raise_peer AT COUNT`.

Waits for the wall-clock time AT (so both processes start together), then raises COUNT events
from four threads at once, each thread the same events in the same order; prints how many calls
created one (the rest found it made).
"""

import json
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import django

THREADS = 4


def raise_all(count: int, created: list[int]) -> None:
    from django.db import connection

    from alerts.services import budget_event_raise

    mine = 0
    for n in range(count):
        event = budget_event_raise(
            budget_ref=f"account:{n % 4}:daily",
            level="account",
            owner_label=f"peer-{n % 4}",
            window_label="daily",
            window_start=datetime(2026, 12, 1 + n // 12, tzinfo=UTC),
            window_end=datetime(2026, 12, 2 + n // 12, tzinfo=UTC),
            threshold_pct=[50, 80, 100][n % 3],
            limit_usd=Decimal("10"),
            spent_usd=Decimal("9"),
        )
        mine += event is not None
    created.append(mine)
    connection.close()


def main() -> None:
    start_at, count = float(sys.argv[1]), int(sys.argv[2])
    django.setup()
    from alerts.models import BudgetEvent

    BudgetEvent.objects.exists()  # connected before the start, so the race is over the rows
    time.sleep(max(0.0, start_at - time.time()))
    created: list[int] = []
    threads = [threading.Thread(target=raise_all, args=(count, created)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"created": sum(created)}))


if __name__ == "__main__":
    main()
