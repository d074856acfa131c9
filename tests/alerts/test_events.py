"""Raising a budget event: once per threshold per window across processes, its deliveries queued in the same
transaction, and never a broken transaction for the ledger that raised it."""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Account
from accounts.services import account_create
from alerts.models import BudgetEvent, Delivery, Destination
from alerts.services import budget_event_raise, destination_create, event_id
from core.ledger_tx import ledger_atomic
from tests.alerts.fixtures import event_fields
from tests.chaos.processes import REPO, database_url, gateway_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_threshold_is_raised_once_per_window():
    first = budget_event_raise(**event_fields())
    assert first is not None
    assert first.id == event_id(
        budget_ref="team:7:monthly", window_start=event_fields()["window_start"], threshold_pct=80
    )
    assert budget_event_raise(**event_fields(spent_usd=Decimal("250"))) is None
    next_month = event_fields()["window_start"] + timedelta(days=31)
    assert budget_event_raise(**event_fields(window_start=next_month)) is not None
    assert budget_event_raise(**event_fields(threshold_pct=100)) is not None
    assert BudgetEvent.objects.count() == 3
    assert BudgetEvent.objects.get(pk=first.pk).spent_usd == Decimal("240.12")  # the first crossing's figures


def test_a_lifetime_budget_alerts_once_per_threshold():
    lifetime = event_fields(window_start=None, window_end=None, window_label="lifetime")
    assert budget_event_raise(**lifetime) is not None
    assert budget_event_raise(**lifetime) is None


def test_one_delivery_is_queued_per_active_destination(settings):
    settings.EMAIL_HOST = ""
    destination_create(name="hook", url="http://127.0.0.1:9/a", secret="s" * 20)
    destination_create(name="slack", kind=Destination.SLACK, url="http://127.0.0.1:9/b")
    destination_create(name="off", url="http://127.0.0.1:9/c", enabled=False)
    destination_create(name="mail", kind=Destination.EMAIL, email="ops@example.com")
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = "http://127.0.0.1:9/env", "e" * 20
    settings.ALERT_EMAILS = ["a@example.com", "b@example.com"]
    event = budget_event_raise(**event_fields())
    queued = {
        (d.destination.name if d.destination else d.recipient or "env", d.channel) for d in event.deliveries.all()
    }
    # Without EMAIL_HOST, no e-mail is queued: neither the destination nor GATEWAY_ALERT_EMAILS.
    assert queued == {("hook", "webhook"), ("slack", "slack"), ("env", "webhook")}
    assert {d.status for d in Delivery.objects.all()} == {Delivery.PENDING}

    settings.EMAIL_HOST = "127.0.0.1"
    event = budget_event_raise(**event_fields(threshold_pct=100))
    emails = {d.destination.email if d.destination else d.recipient for d in event.deliveries.filter(channel="email")}
    assert emails == {"ops@example.com", "a@example.com", "b@example.com"}


def test_a_duplicate_inside_the_ledger_transaction_leaves_the_transaction_usable():
    # On PostgreSQL a failed INSERT aborts the transaction unless it ran in a savepoint; on MongoDB
    # a duplicate-key error aborts the server-side transaction (the stand-in does the same): the
    # ledger's booking after it must still commit.
    destination_create(name="hook", url="http://127.0.0.1:9/a")
    budget_event_raise(**event_fields())

    @ledger_atomic()
    def book() -> object:
        again = budget_event_raise(**event_fields())
        account_create(user_id="booked-after-the-duplicate")
        return again

    assert book() is None
    assert Account.objects.filter(user_id="booked-after-the-duplicate").exists()
    assert BudgetEvent.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_an_event_raised_in_a_transaction_that_fails_leaves_nothing():
    destination_create(name="hook", url="http://127.0.0.1:9/a")

    @ledger_atomic()
    def book_then_fail() -> None:
        assert budget_event_raise(**event_fields()) is not None
        raise RuntimeError("the booking failed after the event was raised")

    with pytest.raises(RuntimeError):
        book_then_fail()
    assert not BudgetEvent.objects.exists()
    assert not Delivery.objects.exists()
    assert budget_event_raise(**event_fields()) is not None  # the crossing is raised by the next booking


@pytest.mark.parametrize(
    "change",
    [
        {"window_start": datetime(2026, 12, 1)},  # naive: which instant would it be?
        {"time_zone": "Mars/Olympus"},
        {"threshold_pct": 0},
        {"limit_usd": 300.0},
        {"budget_ref": ""},
    ],
)
def test_a_malformed_event_is_refused(change):
    with pytest.raises(ValueError):
        budget_event_raise(**event_fields(**change))
    assert not BudgetEvent.objects.exists()


def test_two_processes_raising_the_same_events_at_once_make_one_row_each(redis_backed, tmp_path):
    destination_create(name="hook", url="http://127.0.0.1:9/a")
    destination_create(name="slack", kind=Destination.SLACK, url="http://127.0.0.1:9/b")
    env = gateway_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_backed,
        upstream_url="http://127.0.0.1:9",
        spool_dir=tmp_path / "spool",
    )
    count = 24  # 4 budgets x 3 thresholds x 2 windows
    start_at = time.time() + 8  # both processes are set up by then (Django's start-up takes a few seconds here)
    peers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.alerts.raise_peer", str(start_at), str(count)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [peer.communicate(timeout=180) for peer in peers]
    assert all(peer.returncode == 0 for peer in peers), [err[-3000:] for _, err in results]
    created = [json.loads(out)["created"] for out, _ in results]
    # 8 threads in two processes raised each event: one call made it, every other found it made.
    assert sum(created) == count
    assert BudgetEvent.objects.count() == count
    assert Delivery.objects.count() == 2 * count
