"""Totals and grouped sums from rollups equal the sums of the rows, for any range, grouping and period."""

import dataclasses
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.services import account_create
from budgets.ledger import usage_book_many
from keys.services import key_create
from pricing.selectors import TokenCounts
from tests.engine import on_mongodb
from usage.models import Span, UsageLog, UsageRollup
from usage.reports import UsageScope, model_names, period_start, usage_summed, usage_total
from usage.services import UsageEntry

pytestmark = pytest.mark.django_db
START = datetime(2026, 9, 28, 13, 17, tzinfo=UTC)
MODELS = ("gpt-4o", "GPT-4o ", "claude-3-5-haiku", "gemini-2.0-flash")


@pytest.fixture
def world():
    """300 rows over ten weeks, on two accounts with a key each, several models and statuses.

    40 on the MongoDB stand-in: its in-memory engine scans for each rollup upsert (~15 ms one, ~40 ms
    inside a transaction, measured on this machine), so 300 rows took over two minutes per test there.
    """
    rng = random.Random(17)
    accounts = [account_create(user_id=name) for name in ("alice", "bob")]
    keys = [key_create(account=account).key for account in accounts]
    entries = []
    for _ in range(40 if on_mongodb() else 300):
        owner = rng.randrange(2)
        entries.append(
            UsageEntry(
                request_id=uuid.uuid4(),
                account_id=accounts[owner].pk,
                key_id=keys[owner].pk,
                route=rng.choice(("chat.completions", "messages")),
                model=rng.choice(MODELS),
                provider="openai",
                status_code=rng.choice((200, 200, 200, 429, 502)),
                tokens=TokenCounts(rng.randrange(1000), rng.randrange(500), rng.randrange(50), rng.randrange(9)),
                cost_usd=Decimal(rng.randrange(1, 10**6)).scaleb(-10),
                created_at=(START + timedelta(minutes=rng.randrange(70 * 24 * 60))).isoformat(),
            )
        )
    for start in range(0, len(entries), 50):
        usage_book_many(entries=entries[start : start + 50])
    return accounts, keys


def from_rows(scope: UsageScope, group_by=(), period=None):
    """The same sums, the slow way: every row, in Python."""
    names = {"account": "account_id", "key": "api_key_id", "model": "model", "status": "status_code"}
    result: dict = defaultdict(lambda: [0, Decimal(0), 0])
    for row in UsageLog.objects.filter(**scope.row_filter()):
        if (scope.since and row.created_at < scope.since) or (scope.until and row.created_at >= scope.until):
            continue
        values = [getattr(row, names[name]) for name in group_by]
        if "model" in group_by:
            values[group_by.index("model")] = values[group_by.index("model")].strip().lower()
        if "status" in group_by:
            values[group_by.index("status")] //= 100
        sums = result[(period_start(row.created_at, period) if period else None, *values)]
        sums[0] += 1
        sums[1] += row.cost_usd
        sums[2] += row.input_tokens
    return dict(result)


def summed(scope: UsageScope, group_by=(), period=None):
    found = usage_summed(scope=scope, group_by=group_by, period=period)
    return {key: [t.requests, t.cost_usd, t.input_tokens] for key, t in found.items() if t.requests}


def test_any_range_is_exact(world):
    rng = random.Random(3)
    for _ in range(25):
        since = START + timedelta(minutes=rng.randrange(-600, 80 * 24 * 60))
        until = since + timedelta(minutes=rng.randrange(1, 50 * 24 * 60))
        for scope in (UsageScope(since=since, until=until), UsageScope(since=since), UsageScope(until=until)):
            assert summed(scope) == from_rows(scope), scope
    assert summed(UsageScope()) == from_rows(UsageScope())


@pytest.mark.parametrize("period", [None, "day", "week", "month"])
@pytest.mark.parametrize("group_by", [(), ("account", "model"), ("key", "status")])
def test_groups_and_periods_are_exact(world, group_by, period):
    scope = UsageScope(since=START + timedelta(days=3, minutes=41), until=START + timedelta(days=47, hours=5))
    assert summed(scope, group_by, period) == from_rows(scope, group_by, period)


def test_filters_narrow_rollups_and_rows_alike(world):
    (alice, _), (alice_key, _) = world
    names = model_names(name=" gpt-4O")
    assert names == ("GPT-4o ", "gpt-4o")
    for scope in (
        UsageScope(account_id=alice.pk, since=START + timedelta(hours=30, minutes=5)),
        UsageScope(key_id=alice_key.pk, models=names, until=START + timedelta(days=20, minutes=7)),
        UsageScope(status_class=4, route="messages", provider="openai", since=START + timedelta(days=9, minutes=1)),
    ):
        assert summed(scope, ("model",), "day") == from_rows(scope, ("model",), "day"), scope
    assert model_names(name="gpt-4o", account_id=alice.pk) == names
    assert model_names(name="gpt-4") == ()


def test_a_budget_window_is_one_exact_total(world):
    (alice, _), _ = world
    scope = UsageScope(
        account_id=alice.pk, since=START + timedelta(days=12, minutes=13), until=START + timedelta(days=42)
    )
    assert usage_total(scope=scope).cost_usd == from_rows(scope)[(None,)][1]


def test_reports_that_group_by_nothing_it_folds_read_the_narrow_day(world):
    """Grouped and filtered on account, key, model and provider only, a range of whole days reads KEY_DAY.

    Doubling the narrow day rollups shows which reads use them: the others still equal the rows.
    """
    (alice, _), _ = world
    scope = UsageScope(since=START + timedelta(days=3, minutes=41), until=START + timedelta(days=47, hours=5))
    exact = {group_by: from_rows(scope, group_by, "day") for group_by in [("account", "model"), ("status",)]}
    for narrow in UsageRollup.objects.filter(span=Span.KEY_DAY):
        narrow.requests *= 2
        narrow.save()
    assert summed(scope, ("status",), "day") == exact[("status",)]
    assert summed(dataclasses.replace(scope, route="messages"), ("model",)) == from_rows(
        dataclasses.replace(scope, route="messages"), ("model",)
    )
    doubled = summed(scope, ("account", "model"), "day")
    assert doubled != exact[("account", "model")]
    assert sum(sums[0] for sums in doubled.values()) > sum(sums[0] for sums in exact[("account", "model")].values())
    alices = dataclasses.replace(scope, account_id=alice.pk)
    assert usage_total(scope=alices).requests > from_rows(alices)[(None,)][0]
