"""Every admin page answers for a staff user, and shows money as USD and keys by prefix only."""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing.models import ModelCost
from usage.models import UsageLog


@pytest.mark.parametrize("name", ["accounts_account", "keys_apikey", "pricing_modelcost", "usage_usagelog"])
def test_changelists_answer_200_for_staff(admin_client, shop, name):
    response = admin_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_change_pages_answer_200_for_staff(admin_client, shop):
    row = UsageLog.objects.earliest("created_at")
    for name, pk in [
        ("accounts_account", shop.account.pk),
        ("keys_apikey", shop.key.pk),
        ("pricing_modelcost", ModelCost.objects.get(model="gpt-5").pk),
        ("usage_usagelog", row.pk),
    ]:
        assert admin_client.get(reverse(f"admin:{name}_change", args=[pk])).status_code == 200, name


@pytest.mark.parametrize("name", ["accounts_account", "keys_apikey", "pricing_modelcost"])
def test_add_pages_answer_200_for_staff(admin_client, db, name):
    assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 200


def test_the_site_is_branded(admin_client, db):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "LLM Gateway" in page and "Django administration" not in page


def test_account_list_shows_budget_spent_remaining_and_key_count(admin_client, shop):
    page = admin_client.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "$100.00" in page  # budget
    assert "$0.054500" not in page and "$0.05" in page  # spent 0.0545, rounded to cents
    assert "$99.95" in page  # remaining
    assert "Unlimited" in page  # globex has no budget
    assert '<td class="field-key_count">1</td>' in page


def test_account_page_shows_cards_keys_and_a_spend_chart(admin_client, shop):
    page = admin_client.get(reverse("admin:accounts_account_change", args=[shop.account.pk])).content.decode()
    assert 'class="gw-cards"' in page and "$99.95" in page
    assert "<svg" in page and 'class="bar"' in page
    assert "gpt-5" in page and "claude-sonnet-4-5" in page  # the legend names both models
    assert f"{shop.key.prefix}…" in page
    assert reverse("admin:keys_apikey_change", args=[shop.key.pk]) in page
    assert shop.raw not in page and shop.key.key_hash not in page


def test_key_list_shows_the_prefix_never_the_hash(admin_client, shop):
    page = admin_client.get(reverse("admin:keys_apikey_changelist")).content.decode()
    assert f"{shop.key.prefix}…" in page
    assert shop.key.key_hash not in page and shop.raw not in page
    assert "60 rpm" in page and "gpt-5" in page


def test_usage_list_shows_totals_of_the_filtered_rows(admin_client, shop):
    url = reverse("admin:usage_usagelog_changelist") + f"?account__id__exact={shop.account.pk}"
    page = admin_client.get(url).content.decode()
    assert "$0.054500" not in page and "$0.05" in page
    assert "3 results" in page


def test_money_keeps_three_significant_digits_under_a_cent_and_never_shows_a_rounded_zero():
    from core.admin import usd

    values = ("0", "0.0000012345", "0.0042", "0.000090", "0.01", "0.0545", "1234.5", "-0.0000012345")
    assert [usd(Decimal(v)) for v in values] == [
        "$0",  # exactly nothing: "$0.00" would be the same text as a rounded micro-cost
        "$0.00000123",
        "$0.0042",
        "$0.00009",
        "$0.01",
        "$0.05",
        "$1,234.50",
        "-$0.00000123",
    ]


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"


def test_the_account_page_offers_add_key_and_the_price_filter_only_callable_providers(admin_client, shop, settings):
    page = admin_client.get(reverse("admin:accounts_account_change", args=[shop.account.pk])).content.decode()
    assert f"{reverse('admin:keys_apikey_add')}?account={shop.account.pk}" in page
    prices = admin_client.get(reverse("admin:pricing_modelcost_changelist")).content.decode()
    assert "?provider=openai" not in prices  # no provider is configured in this test


def test_an_operator_token_is_named_by_its_first_characters_not_its_digest(admin_client, admin_user):
    from core.audit import actor_for_user
    from keys.operator_tokens import operator_token_create

    token, _ = operator_token_create(
        user=admin_user, expires_at=None, actor=actor_for_user(user=admin_user, via="admin")
    )
    for view in ("change", "history"):
        page = admin_client.get(reverse(f"admin:knox_authtoken_{view}", args=[token.pk])).content.decode()
        # The digest is the token's primary key, so its pages' addresses hold it; their text does not.
        assert f"{token.token_key}… ({admin_user.username})" in page and f"{token.digest} :" not in page, view
    label = f"{token.token_key}… ({admin_user.username})"
    delete_url = reverse("admin:knox_authtoken_delete", args=[token.pk])
    page = admin_client.get(delete_url).content.decode().replace(f"/authtoken/{token.digest}/", "/authtoken/PK/")
    assert label in page and token.digest not in page  # only addresses hold the pk
    done = admin_client.post(delete_url, {"post": "yes"}, follow=True)
    assert [str(message) for message in done.context["messages"]] == [
        f"The auth token “{label}” was deleted successfully."
    ]
    # The change history and the index's "Recent actions" name it the same way, made and deleted.
    from django.contrib.admin.models import LogEntry

    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == [label, label]
    index = admin_client.get(reverse("admin:index")).content.decode()
    index = index.replace(f"/authtoken/{token.digest}/", "/authtoken/PK/")  # the links to its page
    assert label in index and token.digest not in index


def test_the_team_page_shows_its_accounts_spend_per_day_and_links_the_report(admin_client, shop):
    from accounts.models import Account
    from budgets.services import team_create

    team = team_create(slug="ml")
    Account.objects.filter(pk__in=[shop.account.pk, shop.other.pk]).update(team=team)
    page = admin_client.get(reverse("admin:accounts_team_change", args=[team.pk])).content.decode()
    assert 'class="gw-cards"' in page and "$1.55" in page  # both accounts' last 30 days: 0.0545 + 1.5
    assert "<svg" in page and 'class="bar"' in page
    assert "acme" in page and "globex" in page  # the legend names each account
    assert reverse("admin:usage_usagelog_report") + "?team=ml" in page
    assert admin_client.get(reverse("admin:accounts_team_changelist")).status_code == 200
