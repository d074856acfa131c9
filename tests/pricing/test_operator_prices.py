"""An operator's price is theirs: every price load keeps it, and its history says who set it and how."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from core.audit import audit_details
from pricing.models import ModelCost
from tests.engine import on_mongodb

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(600 if on_mongodb() else 120)]
ADMIN_TOKEN = "test-admin-token-operator-prices"


def load() -> str:
    out = StringIO()
    call_command("load_pricing", stdout=out)
    return out.getvalue()


def history(model: str) -> list[LogEntry]:
    cost = ModelCost.objects.get(model=model)
    return list(LogEntry.objects.filter(object_id=str(cost.pk)).order_by("action_time", "pk").select_related("user"))


def test_prices_set_in_the_admin_and_through_the_api_survive_every_load(admin_client, admin_user, settings):
    settings.ADMIN_API_KEY = ADMIN_TOKEN
    load()
    # The admin form: gpt-4o-mini at 9.99 / 19.99.
    mini = ModelCost.objects.get(model="gpt-4o-mini")
    form = {"provider": "openai", "input_per_mtok": "9.99", "output_per_mtok": "19.99"}
    response = admin_client.post(reverse("admin:pricing_modelcost_change", args=[mini.pk]), form)
    assert response.status_code == 302, response.content[:500]
    # The API: gpt-4o's output price.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    response = api.post("/api/costs/", {"model": "gpt-4o", "output_per_mtok": "42"}, format="json")
    assert response.status_code == 200, response.content

    summary = load()
    assert re.fullmatch(r"created 0, updated 0, unchanged \d+, kept 2 set by an operator\n", summary), summary
    mini = ModelCost.objects.get(model="gpt-4o-mini")
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.source) == (Decimal("9.99"), Decimal("19.99"), "manual")
    gpt4o = ModelCost.objects.get(model="gpt-4o")
    assert (gpt4o.input_per_mtok, gpt4o.output_per_mtok, gpt4o.source) == (Decimal("2.5"), Decimal(42), "manual")

    # Who did what, in the same history the admin shows.
    added, changed = history("gpt-4o-mini")
    assert added.user.username == "system.manage-py" and added.is_addition()
    assert changed.user == admin_user and changed.is_change()
    details = audit_details(changed.change_message)
    assert details["via"] == "admin"
    assert details["values"]["input_per_mtok"] == ["0.15", "9.99"]
    assert details["values"]["source"] == ["override", "manual"]
    _, by_api = history("gpt-4o")
    assert by_api.user.username == "system.admin-api-key"
    assert audit_details(by_api.change_message)["values"]["output_per_mtok"] == ["10", "42"]
    page = admin_client.get(reverse("admin:pricing_modelcost_history", args=[mini.pk])).content.decode()
    assert admin_user.username in page and "0.15 → 9.99" in page


def test_a_price_given_back_to_the_load_takes_the_published_price(admin_client):
    load()
    mini = ModelCost.objects.get(model="gpt-4o-mini")
    form = {"provider": "openai", "input_per_mtok": "9.99", "output_per_mtok": "19.99"}
    admin_client.post(reverse("admin:pricing_modelcost_change", args=[mini.pk]), form)
    action = {"action": "release_selected", "_selected_action": [str(mini.pk)]}
    assert admin_client.post(reverse("admin:pricing_modelcost_changelist"), action).status_code == 302
    mini.refresh_from_db()
    assert (mini.input_per_mtok, mini.source) == (Decimal("0.15"), "override")
    assert re.fullmatch(r"created 0, updated 0, unchanged \d+, kept 0 set by an operator\n", load())
