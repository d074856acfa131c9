"""/metrics reports what is left of team and account budgets, bounded in series."""

from decimal import Decimal

import pytest

from budgets.services import account_open, budget_create, team_create
from budgets.windows import Period

pytestmark = pytest.mark.django_db(transaction=True)


def test_remaining_budgets_of_teams_and_accounts_are_gauges(client, settings):
    team = team_create(slug="ml")
    budget_create(owner=team, limit_usd=Decimal("300"), period=Period.MONTH, timezone="Europe/Paris")
    account_open(user_id="alice", budget_usd=Decimal("10"), team=team)
    body = client.get("/metrics").content.decode()
    assert 'gateway_budget_remaining_usd{budget="lifetime",level="account",owner="alice"} 10.0' in body
    assert 'gateway_budget_limit_usd{budget="monthly (Europe/Paris)",level="team",owner="ml"} 300.0' in body


def test_the_number_of_budget_series_is_capped(client, settings):
    settings.METRICS_BUDGET_SERIES = 2
    for n in range(5):
        account_open(user_id=f"user-{n}", budget_usd=Decimal(n + 1))
    body = client.get("/metrics").content.decode()
    assert body.count("gateway_budget_remaining_usd{") == 2
