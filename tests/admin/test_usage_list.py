"""The usage list answers from indexes and rollups: filters, search, counts and totals; and the spend report page."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin.conftest import record
from tests.engine import on_mongodb
from usage.admin_filters import COUNT_CAP, admin_scope
from usage.models import UsageLog

LIST = reverse("admin:usage_usagelog_changelist")


def test_filter_choices_come_from_rollups_and_name_models_as_prices_do(admin_client, shop):
    page = admin_client.get(LIST).content.decode()
    for choice in ("?model=gpt-5", "?provider=anthropic", f"?account__id__exact={shop.account.pk}", "?status=4xx"):
        assert choice in page


@pytest.mark.parametrize(
    ("search", "expected"),
    [("globex", "other"), ("GPT-5 ", "gpt-5"), ("no-such-thing", None)],
)
def test_search_resolves_to_one_column(admin_client, shop, search, expected):
    body = admin_client.get(LIST, {"q": search}).content.decode()
    rows = UsageLog.objects.filter(account=shop.other) if expected == "other" else None
    if expected == "gpt-5":
        rows = UsageLog.objects.filter(model="gpt-5")
    if rows is None:
        assert "0 usage logs" in body or "0 results" in body
        return
    assert f"{rows.count()} result" in body


def test_search_by_request_id_and_key_prefix(admin_client, shop):
    row = UsageLog.objects.filter(account=shop.account).first()
    assert "1 result" in admin_client.get(LIST, {"q": str(row.id)}).content.decode()
    keyed = UsageLog.objects.filter(api_key=shop.key).count()
    assert f"{keyed} result" in admin_client.get(LIST, {"q": f"{shop.key.prefix}…"}).content.decode()


def test_counts_and_totals_are_read_from_rollups_when_the_filters_allow(admin_client, shop):
    if on_mongodb():
        pytest.skip("MongoDB: CaptureQueriesContext does not see the backend's commands")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(LIST, {"account__id__exact": shop.account.pk, "status": "2xx"}).content.decode()
    table = UsageLog._meta.db_table
    counted_rows = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and f'FROM "{table}"' in q["sql"]]
    assert counted_rows == []  # no COUNT over the usage table: the rollups' sums gave it
    assert "Requests" in page


def test_a_filter_rollups_do_not_keep_counts_rows_up_to_a_cap(admin_client, shop):
    assert admin_scope({"streamed__exact": "1"}) is None
    assert admin_scope({"q": str(uuid.uuid4())}) is None
    page = admin_client.get(LIST, {"streamed__exact": "0"}).content.decode()
    assert f"the count stops at {COUNT_CAP:,} rows" in page


def test_only_time_orders_the_list(admin_client, shop):
    page = admin_client.get(LIST).content.decode()
    assert "sortable column-when" in page and "sortable column-cost" not in page


def test_the_spend_report_page_draws_a_chart_and_a_table(admin_client, shop):
    url = reverse("admin:usage_usagelog_report")
    page = admin_client.get(url, {"group_by": ["account", "model"], "period": "day"}).content.decode()
    assert 'class="gw-chart"' in page and 'id="spend-table"' in page
    assert "acme" in page and "gpt-5" in page
    assert "format=csv" in page and "group_by=account%2Cmodel" in page
    assert admin_client.get(url, {"user_id": "nobody"}).status_code == 200  # the form says what is wrong
    assert "No account has this user_id" in admin_client.get(url, {"user_id": "nobody"}).content.decode()


def test_the_spend_report_names_every_group_in_its_chart_and_table(admin_client, shop):
    record(shop.account, shop.key, "", "0", status=400, error_code="invalid_request_error")  # a body never read
    url = reverse("admin:usage_usagelog_report")
    page = admin_client.get(url, {"group_by": ["key"], "period": "month"}).content.decode()
    legend = re.findall(r'class="legend">([^<]*)</text>', page)
    # Keys by their prefix (the legend was blank), the keyless rows said to be so.
    assert sorted(legend) == sorted([f"{shop.key.prefix} ($0.05)", "(no key) ($1.50)"]), legend
    page = admin_client.get(url, {"group_by": ["model"], "period": "day"}).content.decode()
    assert '<td class="gw-group">(no model)</td>' in page  # in the table: it had requests, if no cost
    assert not [entry for entry in re.findall(r'class="legend">([^<]*)<', page) if "no model" in entry]  # cost 0
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", page.split('id="spend-table"')[1])
    assert headers[:4] == ["Period", "Model", "Cost", "Requests"]
