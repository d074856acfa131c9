"""The usage route: an account's rows newest first, cursor pages, filters, totals of the filtered set."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets.ledger import usage_book
from budgets.services import account_open
from keys.services import key_create
from pricing.selectors import TokenCounts
from usage.models import UsageLog
from usage.services import UsageEntry


def _record(account, key, *, model="gpt-4o", cost="0.001", tokens=(10, 5, 2, 1), age_minutes=0) -> UsageLog:
    entry = UsageEntry(
        request_id=uuid.uuid4(),
        account_id=account.pk,
        key_id=key.pk if key else None,
        route="chat.completions",
        model=model,
        provider="openai",
        status_code=200,
        tokens=TokenCounts(*tokens),
        reasoning_tokens=1,
        cost_usd=Decimal(cost),
        latency_ms=42,
        streamed=True,
        created_at=(timezone.now() - timedelta(minutes=age_minutes)).isoformat(),
    )
    return usage_book(entry=entry)


@pytest.fixture
def key(account):
    return key_create(account=account).key


@pytest.fixture
def rows(account, key):
    """Five rows, oldest (4 minutes ago) to newest; the two oldest on another model."""
    return [
        _record(account, key, model="claude-3-5-haiku" if age >= 3 else "gpt-4o", age_minutes=age)
        for age in (4, 3, 2, 1, 0)
    ]


def _url(user_id="alice"):
    return f"/api/usage/user/{user_id}/"


def test_it_lists_an_accounts_usage_newest_first(api, rows, key):
    body = api.get(_url()).json()
    assert [r["id"] for r in body["results"]] == [str(r.id) for r in reversed(rows)]
    first = body["results"][0]
    assert first == {
        "id": str(rows[-1].id),
        "user_id": "alice",
        "key_id": str(key.pk),
        "route": "chat.completions",
        "model": "gpt-4o",
        "provider": "openai",
        "status_code": 200,
        "error_code": "",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 2,
        "cache_write_tokens": 1,
        "reasoning_tokens": 1,
        "cost_usd": "0.0010000000",
        "latency_ms": 42,
        "streamed": True,
        "usage_estimated": False,
        "upstream_model": "",
        "attempt": 1,
        "attempt_of": None,
        "created_at": first["created_at"],
    }


def test_totals_cover_every_filtered_row_not_only_the_page(api, rows):
    body = api.get(_url(), {"page_size": 2}).json()
    assert len(body["results"]) == 2
    assert body["totals"] == {
        "requests": 5,
        "input_tokens": 50,
        "output_tokens": 25,
        "cache_read_tokens": 10,
        "cache_write_tokens": 5,
        "reasoning_tokens": 5,
        "cost_usd": "0.0050000000",
    }


def test_cursor_pages_walk_every_row_once(api, rows):
    seen, url = [], _url() + "?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == [str(r.id) for r in reversed(rows)]


def test_rows_created_in_the_same_instant_are_not_skipped(api, account, key):
    same = [_record(account, key) for _ in range(5)]
    UsageLog.objects.update(created_at=timezone.now())
    seen, url = [], _url() + "?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(r.id) for r in same)


def test_it_filters_by_model(api, rows):
    body = api.get(_url(), {"model": "claude-3-5-haiku"}).json()
    assert [r["id"] for r in body["results"]] == [str(rows[1].id), str(rows[0].id)]
    assert body["totals"]["requests"] == 2


def test_it_filters_by_date_range(api, rows):
    now = timezone.now()
    since = (now - timedelta(minutes=3, seconds=30)).isoformat()
    until = (now - timedelta(seconds=30)).isoformat()
    body = api.get(_url(), {"since": since, "until": until}).json()
    assert [r["id"] for r in body["results"]] == [str(r.id) for r in reversed(rows[1:4])]
    assert body["totals"]["cost_usd"] == "0.0030000000"


def test_it_filters_by_key(api, account, rows, key):
    other = key_create(account=account).key
    mine = _record(account, other, cost="1.5")
    body = api.get(_url(), {"key_id": str(other.pk)}).json()
    assert [r["id"] for r in body["results"]] == [str(mine.id)]
    assert body["totals"]["cost_usd"] == "1.5000000000"


def test_it_shows_only_that_accounts_rows(api, rows):
    bob = account_open(user_id="bob")
    _record(bob, None)
    body = api.get(_url("bob")).json()
    assert body["totals"]["requests"] == 1
    assert body["results"][0]["key_id"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-01"}, "until"),
        ({"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}, "until"),
        ({"key_id": "not-a-key"}, "key_id"),
        ({"key_id": "999999999"}, "key_id"),
    ],
)
def test_it_rejects_invalid_filters(api, rows, params, field):
    r = api.get(_url(), params)
    assert r.status_code == 400
    assert field in r.json()


def test_another_accounts_key_is_rejected(api, rows):
    bob = account_open(user_id="bob")
    bobs_key = key_create(account=bob).key
    r = api.get(_url(), {"key_id": str(bobs_key.pk)})
    assert r.status_code == 400


def test_an_unknown_account_is_404(api):
    assert api.get(_url("nobody")).status_code == 404


def test_an_invalid_cursor_is_404(api, rows):
    assert api.get(_url(), {"cursor": "garbage"}).status_code == 404


def test_no_usage_is_an_empty_page_with_zero_totals(api, account):
    body = api.get(_url()).json()
    assert body["results"] == []
    assert body["next"] is None
    assert body["totals"]["requests"] == 0
    assert body["totals"]["cost_usd"] == "0.0000000000"


@pytest.mark.parametrize("name", ["modle", "user_id", "limit", "status"])
def test_an_unknown_query_parameter_is_a_400_naming_it(api, rows, name):
    r = api.get(_url(), {name: "x"})
    assert r.status_code == 400
    assert r.json() == {name: ["Unknown query parameter."]}


def test_the_model_filter_matches_names_as_prices_do(api, account, key, rows):
    odd = _record(account, key, model=" GPT-4o ", cost="0.5")
    body = api.get(_url(), {"model": "gpt-4O  "}).json()
    assert str(odd.id) in [r["id"] for r in body["results"]]
    assert body["totals"]["requests"] == 4  # three "gpt-4o" and the one spelled " GPT-4o "
    assert api.get(_url(), {"model": "gpt-4"}).json()["totals"]["requests"] == 0


def test_the_usage_of_every_account_is_one_route_with_filters(api, account, key, rows):
    bob = account_open(user_id="bob")
    bobs = _record(bob, key_create(account=bob).key, model="claude-3-5-haiku", cost="2")
    body = api.get("/api/usage/").json()
    assert body["results"][0]["id"] == str(bobs.id)
    assert body["totals"]["requests"] == 6
    body = api.get("/api/usage/", {"model": "Claude-3-5-Haiku", "user_id": "bob", "status": "2xx"}).json()
    assert [r["id"] for r in body["results"]] == [str(bobs.id)]
    assert body["totals"]["cost_usd"] == "2.0000000000"
    assert api.get("/api/usage/", {"status": "4xx"}).json()["totals"]["requests"] == 0
    assert api.get("/api/usage/", {"provider": "openai", "route": "messages"}).json()["results"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"user_id": "nobody"}, "user_id"), ({"status": "2XX"}, "status"), ({"key_id": "1" * 20}, "key_id")],
)
def test_the_usage_of_every_account_rejects_bad_filters(api, rows, params, field):
    r = api.get("/api/usage/", params)
    assert r.status_code == 400
    assert field in r.json()
