"""Fixtures for the admin tests: an account with a key, a price and usage rows."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from accounts.models import Account
from budgets.ledger import usage_book
from budgets.services import account_open
from keys.models import APIKey
from keys.services import key_create
from pricing.selectors import TokenCounts
from pricing.services import cost_upsert
from tests.budgets.ledger_helpers import refs_of
from usage.services import UsageEntry


@dataclass
class Shop:
    account: Account
    other: Account
    key: APIKey
    raw: str


def record(account: Account, key: APIKey | None, model: str, cost: str, status: int = 200, **kwargs) -> None:
    usage_book(
        entry=UsageEntry(
            request_id=uuid.uuid4(),
            account_id=account.pk,
            key_id=key.pk if key else None,
            route="/v1/chat/completions",
            model=model,
            provider="anthropic" if model.startswith("claude") else "openai",
            status_code=status,
            tokens=TokenCounts(input_tokens=1200, output_tokens=340, cache_read_tokens=50),
            cost_usd=Decimal(cost),
            latency_ms=420,
            budget_refs=refs_of(account.pk),
            **kwargs,
        )
    )


@pytest.fixture
def shop(db) -> Shop:
    account = account_open(user_id="acme", name="Acme Corp", budget_usd=Decimal(100))
    other = account_open(user_id="globex", name="Globex")
    cost_upsert(model="gpt-5", provider="openai", input_per_mtok=Decimal("1.25"), output_per_mtok=Decimal(10))
    cost_upsert(model="claude-sonnet-4-5", provider="anthropic", input_per_mtok=Decimal(3), output_per_mtok=Decimal(15))
    cost_upsert(model="o3", provider="openai", input_per_mtok=Decimal(2), output_per_mtok=Decimal(8))
    created = key_create(account=account, name="ci", allowed_models=["gpt-5"], rpm_limit=60)
    record(account, created.key, "gpt-5", "0.0125")
    record(account, created.key, "claude-sonnet-4-5", "0.042", streamed=True)
    record(account, created.key, "gpt-5", "0", status=429, error_code="rate_limited")
    record(other, None, "gpt-5", "1.5")
    account.refresh_from_db()
    return Shop(account=account, other=other, key=created.key, raw=created.raw)
