"""The spend report: usage across accounts grouped by account, key, model, … and period, paginated, and as CSV."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import account_create
from budgets.ledger import usage_book_many
from keys.services import key_create
from pricing.selectors import TokenCounts
from usage.services import UsageEntry

URL = "/api/reports/spend/"
DAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def _entry(account, key, at, model="gpt-4o", cost="1", status=200):
    return UsageEntry(
        request_id=uuid.uuid4(),
        account_id=account.pk,
        key_id=key.pk,
        route="chat.completions",
        model=model,
        provider="openai",
        status_code=status,
        tokens=TokenCounts(10, 5),
        cost_usd=Decimal(cost),
        created_at=at.isoformat(),
    )


@pytest.fixture
def traffic(db):
    alice, bob = account_create(user_id="alice"), account_create(user_id="bob")
    alice_key, bob_key = key_create(account=alice).key, key_create(account=bob).key
    usage_book_many(
        entries=[
            _entry(alice, alice_key, DAY + timedelta(hours=1)),
            _entry(alice, alice_key, DAY + timedelta(hours=2), model="GPT-4o ", cost="2"),
            _entry(alice, alice_key, DAY + timedelta(days=1), model="claude-3-5-haiku", cost="0.5"),
            _entry(bob, bob_key, DAY + timedelta(days=8), cost="4"),
            _entry(bob, bob_key, DAY + timedelta(days=8), cost="0", status=429),
        ]
    )
    return alice_key, bob_key


def _range(**extra):
    return {"since": "2026-11-01", "until": "2026-12-01", **extra}


def test_it_groups_by_account_and_model_per_week(api, traffic):
    body = api.get(URL, _range(group_by="account,model", period="week")).json()
    assert body["count"] == 3
    assert [(r["period"], r["user_id"], r["model"], r["requests"], r["cost_usd"]) for r in body["results"]] == [
        ("2026-11-02", "alice", "gpt-4o", 2, "3.0000000000"),
        ("2026-11-02", "alice", "claude-3-5-haiku", 1, "0.5000000000"),
        ("2026-11-09", "bob", "gpt-4o", 2, "4.0000000000"),
    ]
    assert body["totals"]["requests"] == 5
    assert body["totals"]["cost_usd"] == "7.5000000000"
    assert body["since"].startswith("2026-11-01T00:00:00")


def test_it_groups_by_key_and_status_without_a_period(api, traffic):
    alice_key, bob_key = traffic
    body = api.get(URL, _range(group_by="key,status")).json()
    rows = {(r["key_prefix"], r["status"]): r["requests"] for r in body["results"]}
    assert rows == {(alice_key.prefix, "2xx"): 3, (bob_key.prefix, "2xx"): 1, (bob_key.prefix, "4xx"): 1}
    assert all("period" not in r for r in body["results"])


def test_filters_and_time_edges_are_exact(api, traffic):
    body = api.get(URL, {"since": "2026-11-02T01:30:00Z", "until": "2026-11-03", "user_id": "alice"}).json()
    assert body["totals"]["requests"] == 1  # the 02:00 call only
    body = api.get(URL, _range(model=" gpt-4O", provider="openai", status="2xx")).json()
    assert (body["totals"]["requests"], body["totals"]["cost_usd"]) == (3, "7.0000000000")


def test_it_pages_with_limit_and_offset(api, traffic):
    body = api.get(URL, _range(group_by="account,model", limit=2)).json()
    assert len(body["results"]) == 2 and body["count"] == 3
    rest = api.get(body["next"]).json()
    assert len(rest["results"]) == 1 and rest["totals"] == body["totals"]


def test_it_is_a_csv_file_with_format_csv(api, traffic):
    response = api.get(URL, _range(group_by="account", period="day", format="csv"))
    assert response.status_code == 200
    assert response["content-type"].startswith("text/csv")
    assert "spend-20261101-20261201.csv" in response["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["period"], r["user_id"], r["requests"], r["cost_usd"]) for r in rows] == [
        ("2026-11-02", "alice", "2", "3.0000000000"),
        ("2026-11-03", "alice", "1", "0.5000000000"),
        ("2026-11-10", "bob", "2", "4.0000000000"),
    ]


def test_the_default_range_is_the_last_30_days(api, db):
    body = api.get(URL).json()
    since = datetime.fromisoformat(body["since"])
    assert since == (timezone.now() - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert body["until"] is None and body["results"] == [] and body["totals"]["requests"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "account,tier"}, "group_by"),
        ({"group_by": "model,model"}, "group_by"),
        ({"period": "year"}, "period"),
        ({"since": "2026-02-30"}, "since"),
        ({"user_id": "nobody"}, "user_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_it_rejects_bad_parameters(api, traffic, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_it_needs_the_admin_token(anon, traffic):
    assert anon.get(URL).status_code in (401, 403)


def test_it_groups_and_filters_by_team_counting_the_teams_inside(api, traffic):
    from accounts.models import Account
    from budgets.services import team_create

    ml = team_create(slug="ml")
    vision = team_create(slug="vision", parent=ml)
    Account.objects.filter(user_id="alice").update(team=vision)
    grouped = api.get(URL, _range(group_by="team")).json()["results"]
    assert {(r["team"], r["cost_usd"]) for r in grouped} == {("vision", "3.5000000000"), (None, "4.0000000000")}
    inside = api.get(URL, _range(team="ml", group_by="account")).json()
    assert [(r["user_id"], r["requests"]) for r in inside["results"]] == [("alice", 3)]
    unknown = api.get(URL, _range(team="nope"))
    assert unknown.status_code == 400 and "team" in unknown.json()
