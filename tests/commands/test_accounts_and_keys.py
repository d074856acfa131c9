"""create_account, create_key and serve: thin commands over the services."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Account
from budgets.services import account_open
from keys.models import APIKey
from keys.selectors import key_lookup
from pricing.services import cost_upsert
from tests.stored import stored_rows

pytestmark = pytest.mark.django_db


def test_create_account_prints_one_summary_line():
    out = StringIO()
    call_command("create_account", "--user-id", "acme", "--name", "Acme", "--budget", "12.5", stdout=out)
    assert out.getvalue() == "created account acme (budget $12.50)\n"
    assert Account.objects.get(user_id="acme").budget_usd == 12.5


def test_create_account_refuses_a_duplicate_user_id():
    account_open(user_id="acme")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_account", "--user-id", "acme", stdout=StringIO())


def test_create_key_prints_the_raw_key_alone_and_stores_no_trace_of_it():
    account_open(user_id="acme")
    for model in ("gpt-5", "claude-sonnet-4-5"):  # an allow-list names models a call could use
        cost_upsert(model=model, input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))
    out, err = StringIO(), StringIO()
    call_command(
        "create_key", "--user-id", "acme", "--models", "gpt-5,claude-sonnet-4-5", "--rpm", "60", stdout=out, stderr=err
    )
    raw = out.getvalue().removesuffix("\n")
    assert raw.startswith("gw-") and len(raw) > 40 and "\n" not in raw
    key = APIKey.objects.get()
    assert raw.startswith(key.prefix)
    assert raw not in err.getvalue()
    assert key.allowed_models == ["claude-sonnet-4-5", "gpt-5"] and key.rpm_limit == 60
    state = key_lookup(raw=raw)
    assert state is not None and state.id == key.pk

    stored = " ".join(str(value) for row in stored_rows(APIKey._meta.db_table) for value in row)  # every column
    window = len(key.prefix) + 1
    leaks = [raw[i : i + window] for i in range(len(raw) - window + 1) if raw[i : i + window] in stored]
    assert leaks == []


def test_create_key_refuses_an_unknown_account():
    with pytest.raises(CommandError, match="No account"):
        call_command("create_key", "--user-id", "nobody", stdout=StringIO())


def test_create_key_reads_a_naive_expiry_as_utc():
    account_open(user_id="acme")
    call_command("create_key", "--user-id", "acme", "--expires", "2031-02-03T04:05", stdout=StringIO())
    expires_at = APIKey.objects.get().expires_at
    assert expires_at is not None and expires_at.isoformat() == "2031-02-03T04:05:00+00:00"


def test_create_operator_creates_a_superuser_once(monkeypatch):
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("ADMIN_PASSWORD", "correct-horse-battery-staple")
    out = StringIO()
    call_command("create_operator", "--username", "ops", stdout=out)
    assert out.getvalue() == "created operator ops; log in at /admin/\n"
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password("correct-horse-battery-staple")
    monkeypatch.setenv("ADMIN_PASSWORD", "another-password-entirely")
    out = StringIO()
    call_command("create_operator", "--username", "ops", stdout=out)  # every `up` runs it: nothing changes
    assert out.getvalue() == "operator ops exists; left as it is\n"
    assert get_user_model().objects.get(username="ops").check_password("correct-horse-battery-staple")


def test_create_operator_refuses_a_weak_or_missing_password(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="ADMIN_PASSWORD"):
        call_command("create_operator", "--username", "ops", stdout=StringIO())
    monkeypatch.setenv("ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_operator", "--username", "ops", stdout=StringIO())
