"""Admin writes go through the services the REST API uses, and their refusals show as form errors."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Account
from keys.models import APIKey
from keys.selectors import key_lookup
from pricing.models import ModelCost

NO_KEYS = {"keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0", "budgets-TOTAL_FORMS": "0", "budgets-INITIAL_FORMS": "0"}


def account_form(**fields):
    return {"name": "", "email": "", "budget_usd": "", "is_active": "on", **NO_KEYS, **fields}


def test_creating_an_account_goes_through_account_create(admin_client, db):
    response = admin_client.post(
        reverse("admin:accounts_account_add"), account_form(user_id="initech", budget_usd="25")
    )
    assert response.status_code == 302
    assert Account.objects.get(user_id="initech").budget_usd == Decimal(25)


def test_a_service_refusal_is_shown_on_the_form(admin_client, db):
    response = admin_client.post(reverse("admin:accounts_account_add"), account_form(user_id="x", budget_usd="-1"))
    assert response.status_code == 200
    assert "budget_usd must not be negative." in response.content.decode()
    assert not Account.objects.exists()


def test_editing_an_account_goes_through_account_update(admin_client, shop):
    url = reverse("admin:accounts_account_change", args=[shop.account.pk])
    form = account_form(name="Acme Inc", email="ops@acme.test", budget_usd="250")
    form.update({"keys-TOTAL_FORMS": "1", "keys-INITIAL_FORMS": "1", "keys-0-id": str(shop.key.pk)})
    assert admin_client.post(url, form).status_code == 302
    shop.account.refresh_from_db()
    assert (shop.account.name, shop.account.budget_usd) == ("Acme Inc", Decimal(250))
    assert shop.account.spent_usd == Decimal("0.0545")  # read-only: untouched


def raw_key_in(page: str) -> str:
    match = re.search(r'id="raw-key"[^>]*value="([^"]+)"', page)
    assert match, "the new key is not on the page"
    return match.group(1)


def test_creating_a_key_shows_the_raw_key_once(admin_client, shop):
    form = {"account": shop.account.pk, "name": "deploy", "allowed_models": "gpt-5, claude-sonnet-4-5"}
    response = admin_client.post(reverse("admin:keys_apikey_add"), form)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = raw_key_in(response.content.decode())
    key = APIKey.objects.get(name="deploy")
    state = key_lookup(raw=raw)
    assert raw.startswith(key.prefix) and state is not None and state.id == key.pk
    assert key.allowed_models == ["claude-sonnet-4-5", "gpt-5"]

    for url in (
        reverse("admin:keys_apikey_change", args=[key.pk]),
        reverse("admin:keys_apikey_changelist"),
        reverse("admin:accounts_account_change", args=[shop.account.pk]),
    ):
        page = admin_client.get(url).content.decode()
        assert raw not in page and raw[len(key.prefix) :] not in page
        assert f"{key.prefix}…" in page


def test_revoke_selected_keys_revokes_through_key_revoke(admin_client, shop):
    response = admin_client.post(
        reverse("admin:keys_apikey_changelist"), {"action": "revoke_selected", "_selected_action": [shop.key.pk]}
    )
    assert response.status_code == 302
    shop.key.refresh_from_db()
    assert not shop.key.is_active
    state = key_lookup(raw=shop.raw)
    assert state is not None and not state.is_usable


def test_editing_a_key_goes_through_key_update(admin_client, shop):
    url = reverse("admin:keys_apikey_change", args=[shop.key.pk])
    form = {"name": "ci", "is_active": "on", "allowed_models": "o3 gpt-5", "rpm_limit": "5", "tpm_limit": ""}
    form |= {"budgets-TOTAL_FORMS": "0", "budgets-INITIAL_FORMS": "0"}
    assert admin_client.post(url, form).status_code == 302
    shop.key.refresh_from_db()
    assert (shop.key.allowed_models, shop.key.rpm_limit) == (["gpt-5", "o3"], 5)


def test_the_editable_price_list_saves_through_cost_upsert(admin_client, shop):
    cost = ModelCost.objects.get(model="gpt-5")
    form = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(cost.pk),
        "form-0-input_per_mtok": "2",
        "form-0-output_per_mtok": "10",
        "form-0-cache_write_per_mtok": "",
        "form-0-cache_read_per_mtok": "0.2",
        "_save": "Save",
    }
    assert admin_client.post(reverse("admin:pricing_modelcost_changelist"), form).status_code == 302
    cost.refresh_from_db()
    assert (cost.input_per_mtok, cost.cache_read_per_mtok, cost.source) == (Decimal(2), Decimal("0.2"), "manual")


def test_a_negative_price_is_refused(admin_client, shop):
    cost = ModelCost.objects.get(model="gpt-5")
    url = reverse("admin:pricing_modelcost_change", args=[cost.pk])
    response = admin_client.post(url, {"provider": "openai", "input_per_mtok": "-1", "output_per_mtok": "1"})
    assert response.status_code == 200
    cost.refresh_from_db()
    assert cost.input_per_mtok == Decimal("1.25")


def test_csv_export_returns_the_filtered_rows(admin_client, shop):
    url = reverse("admin:usage_usagelog_export") + f"?account__id__exact={shop.account.pk}&model=gpt-5"
    response = admin_client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    assert {row["user_id"] for row in rows} == {"acme"} and {row["model"] for row in rows} == {"gpt-5"}
    assert {row["status_code"] for row in rows} == {"200", "429"}
    assert all(row["key_prefix"] == shop.key.prefix for row in rows)


def test_the_usage_list_links_its_export_to_the_current_filters(admin_client, shop):
    page = admin_client.get(reverse("admin:usage_usagelog_changelist") + "?streamed__exact=1").content.decode()
    assert reverse("admin:usage_usagelog_export") + "?streamed__exact=1" in page


@pytest.mark.parametrize("method", ["add", "change", "delete"])
def test_usage_rows_are_read_only(admin_client, shop, method):
    row = shop.account.usage.first()
    url = (
        reverse("admin:usage_usagelog_add")
        if method == "add"
        else reverse(f"admin:usage_usagelog_{method}", args=[row.pk])
    )
    assert admin_client.post(url, {}).status_code == 403
