"""core.admin_rows draws the usage list's rows exactly as Django's own tag would, at a fraction of the cost."""

import pytest
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.templatetags.admin_list import items_for_result
from django.test import RequestFactory
from django.urls import reverse

from core.admin_rows import change_list_rows, change_url
from tests.admin.conftest import record
from usage.models import UsageLog

LIST = reverse("admin:usage_usagelog_changelist")


def _changelist(admin_user, query: dict[str, str], list_display: tuple[str, ...] | None = None):
    request = RequestFactory().get(LIST, query)
    request.user = admin_user
    model_admin = admin.site._registry[UsageLog]
    if list_display is not None:  # the same admin with model fields among its columns
        model_admin = type(model_admin)(UsageLog, admin.site)
        model_admin.list_display = list_display
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None  # as changelist_view sets it for a list without editable columns
    return cl


@pytest.mark.parametrize("query", [{}, {"status": "4xx"}, {"model": "gpt-5", "q": "acme"}, {"provider": ""}])
def test_rows_are_the_html_djangos_tag_draws(admin_user, shop, query):
    record(shop.other, None, "unknown-model", "0", status=502, error_code="upstream")  # no key, no provider
    UsageLog.objects.filter(model="unknown-model").update(provider="")
    cl = _changelist(admin_user, query)
    assert cl.result_list, "the page has rows to compare"
    fast = change_list_rows(cl)
    assert fast is not None
    django_rows = ["".join(items_for_result(cl, obj, None)) for obj in cl.result_list]
    assert [str(row[0]) for row in fast] == django_rows


@pytest.mark.parametrize(
    "columns",
    [("model", "when", "provider", "streamed", "created_at", "cost"), ("when", "status_code", "error_code")],
)
def test_model_fields_are_drawn_as_django_draws_them(admin_user, shop, columns):
    record(shop.other, None, "unknown-model", "0", status=502, error_code="upstream")
    UsageLog.objects.filter(model="unknown-model").update(provider="")
    cl = _changelist(admin_user, {"status": "5xx"} if "status_code" in columns else {}, columns)
    fast = change_list_rows(cl)
    assert fast is not None
    assert [str(row[0]) for row in fast] == ["".join(items_for_result(cl, obj, None)) for obj in cl.result_list]


def test_pages_it_does_not_cover_are_left_to_django(admin_user, shop):
    assert change_list_rows(_changelist(admin_user, {IS_POPUP_VAR: "1"})) is None


def test_change_urls_are_reverses(shop):
    for pk in (shop.account.pk, "a/b_c:d é"):
        assert change_url("admin:accounts_account_change", pk) == reverse(
            "admin:accounts_account_change", args=[admin.utils.quote(pk)]
        )


def test_the_page_draws_its_rows_through_it(admin_client, shop):
    page = admin_client.get(LIST, {"status": "2xx"}).content.decode()
    row = UsageLog.objects.filter(account=shop.account, status_code=200).first()
    change = reverse("admin:usage_usagelog_change", args=[row.pk])
    assert f'<th class="field-when"><a href="{change}?_changelist_filters=status%3D2xx">' in page
