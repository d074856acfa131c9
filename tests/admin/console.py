"""A busy operator console for the browser tests: long names, micro-costs, errors, every kind of object."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Account
from budgets.ledger import usage_book
from budgets.services import account_open, budget_create, team_create
from core.audit import actor_for_user
from keys.models import APIKey
from keys.operator_tokens import operator_token_create
from keys.services import key_create
from pricing.selectors import TokenCounts
from pricing.services import cost_upsert
from routing.health import health_record
from routing.services import deployment_create, policy_set
from tests.budgets.ledger_helpers import reserve
from usage.services import UsageEntry

# Names as long as real ones get: dated snapshots, cloud prefixes, regions.
MODELS = {
    "claude-sonnet-4-5-20250929": "anthropic",
    "gpt-5-mini-2025-08-07": "openai",
    "bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0": "bedrock",
    "azure/gpt-4o-mini-2024-07-18-global-standard-eastus2": "azure",
    "gemini-2.5-pro-preview-06-05-thinking-budget-32k": "gemini",
}
# Micro-costs: what one short call on a cheap model costs. None rounds to a cent.
COSTS = ("0.0000042", "0.00031", "0.0000187", "0.000009", "0.0012")
ACCOUNTS = (
    ("acme-corporation-research-and-development-eu-west-1", "Acme Corporation — Research & Development (EU West)"),
    ("globex-international-customer-support-automation", "Globex International — Customer Support Automation"),
    ("initech-payments-fraud-detection-batch-pipeline", "Initech Payments — Fraud Detection Batch Pipeline"),
    ("umbrella-labs", "Umbrella Labs"),
)


@dataclass
class Console:
    account: Account
    key: APIKey
    operator_password: str


def _row(account: Account, key: APIKey | None, model: str, cost: str, days_ago: int, **kwargs: Any) -> None:
    usage_book(
        entry=UsageEntry(
            request_id=uuid.uuid4(),
            account_id=account.pk,
            key_id=key.pk if key else None,
            route="/v1/messages" if "claude" in model else "/v1/chat/completions",
            model=model,
            provider=MODELS.get(model, ""),
            status_code=kwargs.pop("status", 200),
            tokens=TokenCounts(
                input_tokens=123_456, output_tokens=45_678, cache_read_tokens=98_765, cache_write_tokens=4_321
            ),
            reasoning_tokens=12_345,
            cost_usd=Decimal(cost),
            latency_ms=kwargs.pop("latency_ms", 12_345),
            streamed=bool(days_ago % 2),
            created_at=(timezone.now() - timedelta(days=days_ago, minutes=7)).isoformat(),
            **kwargs,
        )
    )


def _traffic(account: Account, key: APIKey, scale: int) -> None:
    """A month of micro-cost calls on every model, and the errors real traffic has (cost 0)."""
    for day in range(0, 30, 3):
        for index, model in enumerate(MODELS):
            if (day + index) % 2 == 0:
                _row(account, key, model, str(Decimal(COSTS[index]) * scale), day)
    _row(account, key, "gpt-5-mini-2025-08-07", "0", 1, status=429, error_code="upstream_rate_limited")
    _row(account, key, "claude-sonnet-4-5-20250929", "0", 2, status=504, error_code="upstream_timeout")
    # A body the gateway could not read: the row has no model (the blank legend entry of issue 19).
    _row(account, key, "", "0", 0, status=400, error_code="invalid_request_error", latency_ms=3)


def _routing() -> None:
    for public, upstream, provider in (
        ("support-assistant-production-primary", "gpt-5-mini-2025-08-07", "openai"),
        ("support-assistant-production-fallback", "claude-sonnet-4-5-20250929", "anthropic"),
        ("fraud-detection-batch-classifier-eu", "gpt-5-mini-2025-08-07", "openai"),
    ):
        deployment = deployment_create(
            public_name=public, provider=provider, upstream_model=upstream, weight=3, rpm_capacity=12_000
        )
        health_record(
            deployment_id=str(deployment.pk),
            failed=True,
            error="upstream 503: Service Unavailable — the model is currently overloaded with other requests",
        )
    policy_set(
        public_name="support-assistant-production-primary",
        attempts=3,
        deadline_s=120,
        fallbacks=["support-assistant-production-fallback", "fraud-detection-batch-classifier-eu"],
    )


def console_seed() -> Console:
    """Everything an operator's first month leaves in the admin; runs off Playwright's thread (see test_browser)."""
    for index, (model, provider) in enumerate(MODELS.items()):
        cost_upsert(
            model=model,
            provider=provider,
            input_per_mtok=Decimal("0.075") * (index + 1),
            output_per_mtok=Decimal("0.3") * (index + 1),
            cache_write_per_mtok=Decimal("0.09375"),
            cache_read_per_mtok=Decimal("0.0075"),
        )
    # Teams nest: the company, its platform group inside it.
    company = team_create(slug="acme-holdings-international-group", name="Acme Holdings International Group")
    platform = team_create(slug="acme-platform-engineering-emea", name="Platform Engineering (EMEA)", parent=company)
    budget_create(owner=company, limit_usd=Decimal(250), period="month", name="company-wide monthly cap")
    accounts = []
    for index, (user_id, name) in enumerate(ACCOUNTS):
        budget = None if index == 3 else Decimal(5) * (index + 1)
        email = f"platform-team@{user_id}.example"
        team = platform if index == 0 else company if index == 1 else None
        account = account_open(user_id=user_id, name=name, email=email, budget_usd=budget, team=team)
        budget_create(owner=account, limit_usd=Decimal("0.5"), period="day", name="daily")
        key = key_create(
            account=account,
            name=f"{user_id}-production-batch-worker",
            allowed_models=list(MODELS),
            rpm_limit=12_000,
            tpm_limit=2_000_000,
            expires_at=timezone.now() + timedelta(days=365),
        ).key
        budget_create(owner=key, limit_usd=Decimal("0.0125"), period="week", name="batch worker's week")
        key_create(account=account, name="notebook")
        _traffic(account, key, scale=index + 1)
        accounts.append((account, key))
    account, key = accounts[0]
    # A request in flight: the Reserved card shows a micro-amount too.
    assert reserve(account.pk, uuid.uuid4(), Decimal("0.0000073"))
    _routing()
    password = "correct-horse-battery-staple"
    operator = get_user_model().objects.create_superuser("ops", "ops@example.test", password)
    operator_token_create(user=operator, expires_at=None, actor=actor_for_user(user=operator, via="admin"))
    account.refresh_from_db()
    return Console(account=account, key=key, operator_password=password)
