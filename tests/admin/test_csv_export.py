"""The usage CSV export cannot carry a formula into the operator's spreadsheet."""

import csv
import io

import pytest
from django.urls import reverse

from tests.admin.conftest import record

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("model", FORMULAS)
def test_a_model_name_starting_like_a_formula_is_quoted(admin_client, shop, model):
    record(shop.account, shop.key, model, "0", status=404, error_code="model_not_found")
    response = admin_client.get(reverse("admin:usage_usagelog_export") + "?status=4xx")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    models = {row["model"] for row in rows}
    assert "'" + model in models
    assert not any(cell.startswith(tuple("=+-@\t\r")) for row in rows for cell in row.values())


def test_plain_values_are_left_alone(admin_client, shop):
    response = admin_client.get(reverse("admin:usage_usagelog_export") + "?status=2xx")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert {row["model"] for row in rows} == {"gpt-5", "claude-sonnet-4-5"}
    assert not any(cell.startswith("'") for row in rows for cell in row.values())
