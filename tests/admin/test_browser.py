"""The admin in a real browser: headless Debian Chromium driven by Playwright, against a live server."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from budgets.ledger import usage_book
from budgets.services import account_open
from keys.services import key_create
from pricing.selectors import TokenCounts
from pricing.services import cost_upsert
from usage.services import UsageEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]
PASSWORD = "correct-horse-battery-staple"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture
def shots(request) -> Path:
    folder = OUTPUT / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(live_server, django_user_model) -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    django_user_model.objects.create_superuser("ops", "ops@example.test", PASSWORD)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        tab = context.new_page()
        tab.goto(f"{live_server.url}/admin/login/")
        tab.fill("#id_username", "ops")
        tab.fill("#id_password", PASSWORD)
        tab.click("input[type=submit]")
        tab.wait_for_url(f"{live_server.url}/admin/")
        yield tab
        browser.close()


@pytest.fixture
def priced(transactional_db) -> None:
    # An allow-list names models a call could use. Before `page`: Playwright's loop then runs in this thread.
    for model in ("gpt-5", "claude-sonnet-4-5"):
        cost_upsert(model=model, input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))


def test_a_new_key_is_shown_once_then_only_its_prefix(priced, page, live_server, shots):
    page.goto(f"{live_server.url}/admin/accounts/account/add/")
    page.fill("#id_user_id", "initech")
    page.fill("#id_name", "Initech")
    page.fill("#id_budget_usd", "250")
    page.click("input[name=_save]")
    assert "initech" in page.inner_text("#result_list")

    page.goto(f"{live_server.url}/admin/keys/apikey/add/")
    page.click(".field-account .select2-selection")  # the account picker is an autocomplete
    page.fill(".select2-search__field", "initech")
    page.click(".select2-results__option >> text=initech")
    page.fill("#id_name", "production")
    page.fill("#id_allowed_models", "gpt-5, claude-sonnet-4-5")
    page.fill("#id_rpm_limit", "600")
    page.click("input[name=_save]")
    raw = page.input_value("#raw-key")
    assert raw.startswith("gw-")
    page.screenshot(path=str(shots / "1-key-shown-once.png"), full_page=True)

    page.reload()
    prefix = raw[:11]
    assert raw not in page.content()
    assert f"{prefix}…" in page.content()
    page.screenshot(path=str(shots / "2-after-reload-prefix-only.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/keys/apikey/")
    assert raw not in page.content() and f"{prefix}…" in page.content()
    page.screenshot(path=str(shots / "3-key-list.png"), full_page=True)


def _usage(account_id, key_id, model: str, cost: str, days_ago: int) -> None:
    usage_book(
        entry=UsageEntry(
            request_id=uuid.uuid4(),
            account_id=account_id,
            key_id=key_id,
            route="/v1/chat/completions" if model.startswith("gpt") else "/v1/messages",
            model=model,
            provider="openai" if model.startswith("gpt") else "anthropic",
            status_code=200,
            tokens=TokenCounts(input_tokens=2000, output_tokens=500, cache_read_tokens=300),
            cost_usd=Decimal(cost),
            latency_ms=350,
            # Spread over the month as real traffic would be.
            created_at=(timezone.now() - timedelta(days=days_ago)).isoformat(),
        )
    )


MODELS = {"gpt-5": "0.42", "claude-sonnet-4-5": "0.77", "gpt-5-mini": "0.08"}


@pytest.fixture
def busy_account(db):
    """An account with a month of traffic on three models; made before the browser starts its event loop."""
    account = account_open(user_id="acme", name="Acme Corp", budget_usd=Decimal(40))
    key = key_create(account=account, name="backend").key
    for day in range(0, 28, 2):
        for index, (model, cost) in enumerate(MODELS.items()):
            if (day + index) % 3:
                _usage(account.pk, key.pk, model, str(Decimal(cost) * (1 + day % 5)), day)
    return account


def test_the_account_page_draws_spend_per_day_by_model(busy_account, page, live_server, shots):
    account = busy_account
    page.goto(f"{live_server.url}/admin/accounts/account/{account.pk}/change/")
    chart = page.locator("#spend-chart svg")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() > 10
    legend = chart.inner_html()
    assert all(model in legend for model in MODELS)
    page.screenshot(path=str(shots / "account-page.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/usage/usagelog/?account__id__exact={account.pk}")
    assert page.locator("#export-csv").is_visible()
    page.screenshot(path=str(shots / "usage-list.png"), full_page=True)
