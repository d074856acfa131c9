"""Rollups are exact: each batch of rows adds to its hour, day, narrow day and month, in the rows' own transaction."""

import dataclasses
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection

from accounts.services import account_create
from budgets.ledger import usage_book_many
from keys.services import key_create
from pricing.selectors import TokenCounts
from tests.engine import on_mongodb
from usage.models import Span, UsageLog, UsageRollup
from usage.rollups import key_days_from_days, rollups_check, rollups_rebuild
from usage.services import UsageEntry

pytestmark = pytest.mark.django_db


def entry(account, key, *, at, model="gpt-4o", cost="0.0015", status=200, tokens=(100, 20, 5, 1)):
    return UsageEntry(
        request_id=uuid.uuid4(),
        account_id=account.pk,
        key_id=key.pk if key else None,
        route="chat.completions",
        model=model,
        provider="openai",
        status_code=status,
        tokens=TokenCounts(*tokens),
        reasoning_tokens=3,
        cost_usd=Decimal(cost),
        created_at=at.isoformat(),
    )


@pytest.fixture
def account():
    return account_create(user_id="alice")


@pytest.fixture
def key(account):
    return key_create(account=account).key


def bucket(span, start, **filters):
    rows = UsageRollup.objects.filter(span=span, bucket=start, **filters)
    return [(r.model, r.status_class, r.requests, r.input_tokens, r.output_tokens, r.cost_usd) for r in rows]


def test_a_batch_adds_each_row_to_its_hour_day_and_month(account, key):
    at = datetime(2026, 11, 30, 23, 40, tzinfo=UTC)
    usage_book_many(
        entries=[
            entry(account, key, at=at),
            entry(account, key, at=at.replace(minute=59), cost="0.0025"),
            entry(account, key, at=at, model="claude-3-5-haiku", status=429, tokens=(0, 0, 0, 0), cost="0"),
            entry(account, key, at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC)),
        ]
    )
    hour = datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert sorted(bucket(Span.HOUR, hour)) == [
        ("claude-3-5-haiku", 4, 1, 0, 0, Decimal(0)),
        ("gpt-4o", 2, 2, 200, 40, Decimal("0.004")),
    ]
    assert bucket(Span.DAY, datetime(2026, 11, 30, tzinfo=UTC), model="gpt-4o") == [
        ("gpt-4o", 2, 2, 200, 40, Decimal("0.004"))
    ]
    assert bucket(Span.MONTH, datetime(2026, 12, 1, tzinfo=UTC)) == [("gpt-4o", 2, 1, 100, 20, Decimal("0.0015"))]
    assert bucket(Span.HOUR, datetime(2026, 12, 1, tzinfo=UTC)) == [("gpt-4o", 2, 1, 100, 20, Decimal("0.0015"))]
    row = UsageRollup.objects.get(span=Span.MONTH, bucket=datetime(2026, 11, 1, tzinfo=UTC), status_class=2)
    assert (row.account_id, row.api_key_id) == (account.pk, key.pk)
    assert (row.provider, row.route) == ("openai", "chat.completions")
    assert (row.cache_read_tokens, row.cache_write_tokens, row.reasoning_tokens) == (10, 2, 6)
    assert rollups_check() == []


def test_the_narrow_day_folds_routes_and_status_classes(account, key):
    """KEY_DAY keeps account, key, model and provider: one row for a day's calls of every route and status."""
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    answers = entry(account, key, at=at)
    refused = entry(account, key, at=at.replace(hour=11), status=429, tokens=(0, 0, 0, 0), cost="0")
    other_route = dataclasses.replace(entry(account, key, at=at.replace(hour=12)), route="responses")
    usage_book_many(entries=[answers, refused, other_route])
    day = datetime(2026, 11, 30, tzinfo=UTC)
    assert len(bucket(Span.DAY, day)) == 3
    assert bucket(Span.KEY_DAY, day) == [("gpt-4o", 0, 3, 200, 40, Decimal("0.003"))]
    narrow = UsageRollup.objects.get(span=Span.KEY_DAY)
    assert (narrow.account_id, narrow.api_key_id, narrow.provider, narrow.route) == (account.pk, key.pk, "openai", "")
    assert rollups_check() == []
    narrow.requests = 2
    narrow.save()
    assert any("day by key and model 2026-11-30" in line for line in rollups_check())


def test_an_upgrade_folds_the_day_rollups_into_narrow_days(account, key):
    """usage 0009 makes KEY_DAY from the day rollups an existing database has (no row read); twice is once."""
    usage_book_many(
        entries=[
            entry(account, key, at=datetime(2026, 11, day, 10, tzinfo=UTC), model=model, status=status)
            for day in (29, 30)
            for model in ("gpt-4o", "gpt-5")
            for status in (200, 500)
        ]
    )
    expected = sorted(bucket(Span.KEY_DAY, datetime(2026, 11, 30, tzinfo=UTC)))
    UsageRollup.objects.filter(span=Span.KEY_DAY).delete()
    assert rollups_check() != []
    assert key_days_from_days() == 4
    assert key_days_from_days() == 4
    assert sorted(bucket(Span.KEY_DAY, datetime(2026, 11, 30, tzinfo=UTC))) == expected
    assert rollups_check() == []


def test_later_batches_add_to_the_buckets_already_there(account, key):
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    for minute in (1, 2, 3):
        usage_book_many(entries=[entry(account, key, at=at.replace(minute=minute))])
    assert bucket(Span.HOUR, at.replace(minute=0)) == [("gpt-4o", 2, 3, 300, 60, Decimal("0.0045"))]
    assert UsageRollup.objects.count() == 4  # one row per span: added to, never duplicated


def test_a_replayed_batch_adds_only_the_rows_it_writes(account, key):
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    first = [entry(account, key, at=at), entry(account, key, at=at)]
    usage_book_many(entries=first)
    # The spool replays the whole batch and one more entry: only the new row counts.
    assert usage_book_many(entries=[*first, entry(account, key, at=at)], idempotent=True) == 1
    assert bucket(Span.DAY, datetime(2026, 11, 30, tzinfo=UTC)) == [("gpt-4o", 2, 3, 300, 60, Decimal("0.0045"))]
    assert rollups_check() == []


def test_a_batch_that_fails_adds_nothing(account, key):
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    written = entry(account, key, at=at)
    usage_book_many(entries=[written])
    with pytest.raises(IntegrityError):  # its second row repeats a request id: neither row, nor any sum
        usage_book_many(entries=[entry(account, key, at=at, model="other"), written])
    assert UsageRollup.objects.filter(model="other").count() == 0
    assert bucket(Span.HOUR, at.replace(minute=0)) == [("gpt-4o", 2, 1, 100, 20, Decimal("0.0015"))]
    assert rollups_check() == []


def test_rows_without_a_key_are_counted_too(account):
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    usage_book_many(entries=[entry(account, None, at=at)])
    usage_book_many(entries=[entry(account, None, at=at)])
    assert sum(r.requests for r in UsageRollup.objects.filter(span=Span.HOUR, api_key__isnull=True)) == 2
    assert rollups_check() == []


def test_check_names_a_bucket_that_differs_and_rebuild_repairs_it(account, key):
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    usage_book_many(entries=[entry(account, key, at=at), entry(account, key, at=at, model="gpt-5")])
    UsageRollup.objects.filter(span=Span.DAY, model="gpt-5").update(requests=7)
    UsageLog.objects.filter(model="gpt-4o").update(cost_usd=Decimal("1"))
    differences = rollups_check()
    assert len(differences) == 9, differences  # gpt-4o in each span, gpt-5 in its day, the four grand totals
    assert any("day 2026-11-30 00:00" in line and "model=gpt-5" in line for line in differences)
    assert rollups_rebuild() == 8
    assert rollups_check() == []
    assert bucket(Span.MONTH, datetime(2026, 11, 1, tzinfo=UTC), model="gpt-4o") == [
        ("gpt-4o", 2, 1, 100, 20, Decimal("1"))
    ]


def test_the_command_checks_and_rebuilds(account, key, capsys):
    usage_book_many(entries=[entry(account, key, at=datetime(2026, 11, 30, 10, tzinfo=UTC))])
    call_command("usage_rollups", "check")
    assert "equal the rows" in capsys.readouterr().out
    UsageRollup.objects.all().delete()
    with pytest.raises(SystemExit):
        call_command("usage_rollups", "check")
    call_command("usage_rollups", "rebuild")
    assert "rebuilt: 4 rollup rows" in capsys.readouterr().out
    assert rollups_check() == []


@pytest.mark.django_db(transaction=True)
def test_writers_racing_on_a_new_bucket_lose_nothing(account, key):
    """Several threads (connections) create the same buckets at once: each batch is counted exactly once."""
    at = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    start, errors = threading.Barrier(4), []

    def write() -> None:
        try:
            start.wait()
            for _ in range(5):
                usage_book_many(entries=[entry(account, key, at=at), entry(account, key, at=at, model="m2")])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(bucket(Span.HOUR, at.replace(minute=0))) == [
        ("gpt-4o", 2, 20, 2000, 400, Decimal("0.03")),
        ("m2", 2, 20, 2000, 400, Decimal("0.03")),
    ]
    assert UsageRollup.objects.count() == 8
    assert rollups_check() == []
    assert not on_mongodb() or UsageRollup.objects.filter(span=Span.HOUR).count() == 2


def test_after_pruning_check_reads_whole_days_of_rows_and_rebuild_refuses(account, key, capsys):
    days = [datetime(2026, 11, day, 10, tzinfo=UTC) for day in (3, 4, 5)]
    usage_book_many(entries=[entry(account, key, at=at) for at in days for _ in range(2)])
    UsageLog.objects.filter(created_at__lt=days[1]).delete()  # what prune_usage does: rollups keep them
    UsageLog.objects.filter(created_at__date=days[1].date()).first().delete()  # a day pruned half-way
    call_command("usage_rollups", "check")
    assert "checking the buckets from 2026-11-05 on" in capsys.readouterr().out
    with pytest.raises(CommandError, match="pruned"):
        call_command("usage_rollups", "rebuild")
    assert rollups_check() != []  # without `since`, the pruned rows' buckets differ, as they should
