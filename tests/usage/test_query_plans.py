"""PostgreSQL's plans for the hot reads: each reaches the usage table and its rollups through the intended index.

The queries are the ones the code really sends (captured while each read runs), explained with
sequential scans and sorts priced out (`enable_seqscan`, `enable_sort = off`), as the planner chooses on a
table of millions: a read that still scans a table then has no index it can use. The data benchmark (bench/data.py)
shows the timings; this keeps the plans from regressing unnoticed.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import account_create
from budgets.ledger import usage_book_many
from keys.services import key_create
from pricing.selectors import TokenCounts
from usage.reports import UsageScope, usage_total
from usage.services import UsageEntry

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL's planner"),
]
TABLES = ("usage_usagelog", "usage_usagerollup")


@pytest.fixture
def traffic():
    """alice's 200 calls of one model among 2,000 of another account and model: a filter on either is selective,
    as on a table of millions (with alice's rows alone, a scan of the time index is the planner's right choice)."""
    now = datetime.now(UTC)
    owners = []
    for user_id, model, calls in (("alice", "gpt-4o", 200), ("bob", "claude-3-5-haiku", 2000)):
        account = account_create(user_id=user_id)
        key = key_create(account=account).key
        owners.append(account)
        entries = [
            UsageEntry(
                request_id=uuid.uuid4(),
                account_id=account.pk,
                key_id=key.pk,
                route="chat.completions",
                model=model,
                provider="openai",
                status_code=200,
                tokens=TokenCounts(10, 5),
                cost_usd=Decimal("0.01"),
                created_at=(now - timedelta(minutes=n * 7)).isoformat(),
            )
            for n in range(calls)
        ]
        for start in range(0, calls, 500):
            usage_book_many(entries=entries[start : start + 500])
    return owners[0]


def plans(run):
    """(query, plan) for every SELECT on the usage tables that `run` sends."""
    with CaptureQueriesContext(connection) as captured:
        run()
    found = []
    with connection.cursor() as cursor:
        # Statistics of this test's rows, not of whatever the tables held when autovacuum last looked (after
        # other tests, PostgreSQL guessed one row a table and joined through the account index).
        cursor.execute(f"ANALYZE {', '.join(TABLES)}, accounts_account")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")  # sorting an account's rows: millions on a real table
        for query in captured:
            sql = query["sql"]
            if sql.lstrip().upper().startswith("SELECT") and any(f'"{table}"' in sql for table in TABLES):
                cursor.execute(f"EXPLAIN {sql}")
                found.append((sql, "\n".join(row[0] for row in cursor.fetchall())))
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_sort")
    assert found, "the read sent no query to the usage tables"
    return found


def indexes_used(plan: str) -> set[str]:
    return set(re.findall(r"(?:Index|Index Only|Bitmap Index) Scan(?: Backward)? (?:using|on) (\w+)", plan))


def assert_indexed(found, allowed):
    for sql, plan in found:
        assert not re.search(r"Seq Scan on usage_", plan), f"{sql}\n{plan}"
        used = {name for name in indexes_used(plan) if name.startswith("usage_")}
        assert used and used <= allowed, f"{sql}\n{plan}"


def test_a_total_over_any_window_reads_rollups_by_account_and_rows_by_account_and_time(traffic):
    since = datetime.now(UTC) - timedelta(days=3, minutes=17)
    found = plans(lambda: usage_total(scope=UsageScope(account_id=traffic.pk, since=since)))
    # The minutes at the edges: by account and time, or by time alone (under an hour of rows either way).
    assert_indexed(found, {"usage_rollup_account", "usage_account_time", "usage_time"})
    assert any("usage_rollup_account" in plan for _, plan in found)


def test_a_report_across_accounts_reads_rollups_by_bucket_and_rows_by_time(traffic):
    since = datetime.now(UTC) - timedelta(days=30, minutes=17)
    found = plans(lambda: usage_total(scope=UsageScope(since=since, until=datetime.now(UTC))))
    assert_indexed(found, {"usage_rollup_bucket", "usage_time"})
    assert any("usage_rollup_bucket" in plan for _, plan in found)


@pytest.fixture
def staff(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/admin/usage/usagelog/", {"usage_time", "usage_rollup_bucket", "usage_rollup_account"}),
        ("/admin/usage/usagelog/?model=gpt-4o", {"usage_model_time", "usage_time", "usage_rollup_bucket"}),
        ("/api/usage/user/alice/", {"usage_account_time", "usage_rollup_account"}),
        ("/api/reports/spend/?group_by=account,model", {"usage_rollup_bucket", "usage_time"}),
    ],
)
def test_pages_read_through_indexes(traffic, staff, url, allowed):
    def run():
        assert staff.get(url).status_code == 200

    if "account" in url or url.endswith("usagelog/"):
        allowed = allowed | {"usage_rollup_account", "usage_rollup_bucket"}
    assert_indexed(plans(run), allowed)


def test_the_account_page_reads_rollups_by_account(traffic, staff):
    found = plans(lambda: staff.get(f"/admin/accounts/account/{traffic.pk}/change/"))
    assert_indexed(found, {"usage_rollup_account", "usage_account_time", "usage_time"})
