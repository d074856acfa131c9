"""Fixtures for the management API tests: an admin-token client, an anonymous one, an account."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Account
from budgets.services import account_open

ADMIN_TOKEN = "test-admin-token-5f1c0d9e"


@pytest.fixture(autouse=True)
def _admin_key(settings):
    settings.ADMIN_API_KEY = ADMIN_TOKEN


@pytest.fixture
def api(db) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    return client


@pytest.fixture
def anon(db) -> APIClient:
    return APIClient()


@pytest.fixture
def account(db) -> Account:
    return account_open(user_id="alice", name="Alice", email="alice@example.com", budget_usd=Decimal("10"))
