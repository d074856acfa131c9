"""Operators' own tokens carry their names and permissions; every change, whatever its door, is in one history."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.audit import actor_for_user
from keys.operator_tokens import operator_token_create
from tests.stored import stored_rows


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("alice", "alice@example.test", "pw-not-used-here", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_account", "change_account"]))
    return user


def client_for(user) -> tuple[APIClient, str]:
    _, raw = operator_token_create(user=user, expires_at=None, actor=actor_for_user(user=user, via="admin"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, raw


def test_an_api_change_appears_on_the_objects_history_page_with_the_operators_name(account, operator, admin_client):
    client, _ = client_for(operator)
    answer = client.patch("/api/accounts/alice/", {"budget_usd": "50"}, format="json")
    assert answer.status_code == 200, answer.content
    page = admin_client.get(reverse("admin:accounts_account_history", args=[account.pk])).content.decode()
    assert "alice" in page and "REST API" in page and "budget_usd: 10 → 50" in page

    entries = client_for(operator)[0].get("/api/audit/?object=account/alice")
    assert entries.status_code == 403  # reading the history needs its own permission
    history = admin_client.get("/api/audit/?object=account/alice").json()["results"]
    assert history[0]["actor"] == "alice" and history[0]["via"] == "api" and history[0]["action"] == "changed"
    assert history[0]["changes"] == {"budget_usd": ["10", "50"]}


def test_a_token_carries_its_operators_permissions(account, operator, django_user_model):
    client, _ = client_for(operator)
    assert client.get("/api/accounts/").status_code == 200
    assert client.post("/api/accounts/", {"user_id": "bob"}, format="json").status_code == 403  # no add_account
    assert client.get("/api/costs/").status_code == 403  # no view_modelcost
    outsider = django_user_model.objects.create_user("carol", password="x", is_staff=False)
    assert client_for(outsider)[0].get("/api/accounts/").status_code == 403
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer gwop-0123456789abcdef0123456789abcdef")
    assert wrong.get("/api/accounts/").status_code == 401


def test_a_token_is_kept_only_as_a_digest(operator):
    _, raw = client_for(operator)
    assert raw.startswith("gwop-")
    stored = " ".join(str(value) for row in stored_rows(AuthToken._meta.db_table) for value in row)
    assert raw not in stored and raw[:15] in stored  # its first characters find it; the digest proves it


def test_the_admin_api_key_and_commands_are_recorded_as_named_system_actors(api, account):
    assert api.patch("/api/accounts/alice/", {"name": "Alice B."}, format="json").status_code == 200
    call_command("create_account", "--user-id", "zed", "--budget", "5", stdout=StringIO())
    everything = api.get("/api/audit/?object=account").json()["results"]
    by_actor = {(entry["actor"], entry["action"]) for entry in everything}
    assert ("system.admin-api-key", "changed") in by_actor and ("system.manage-py", "added") in by_actor
    added = next(entry for entry in everything if entry["actor"] == "system.manage-py")
    assert added["object_repr"] == "zed" and added["changes"]["budget_usd"] == "5"


def test_a_key_change_in_the_admin_is_recorded_once_with_old_and_new_values(admin_client, account):
    from keys.services import key_create

    key = key_create(account=account, name="ci").key
    url = reverse("admin:keys_apikey_change", args=[key.pk])
    form = {"name": "deploy", "is_active": "on", "allowed_models": "", "rpm_limit": "5", "tpm_limit": ""}
    form |= {"budgets-TOTAL_FORMS": "0", "budgets-INITIAL_FORMS": "0"}  # the key's budgets inline, left alone
    assert admin_client.post(url, form).status_code == 302
    changed = [entry for entry in admin_client.get(f"/api/audit/?object=key/{key.pk}").json()["results"]]
    assert [entry["action"] for entry in changed] == ["changed", "added"]
    assert changed[0]["changes"] == {"name": ["ci", "deploy"], "rpm_limit": [None, 5]}
    assert changed[0]["via"] == "admin"


def test_budgets_and_teams_need_their_own_permissions(operator):
    client, _ = client_for(operator)  # may view and change accounts, nothing about budgets or teams
    assert client.get("/api/budgets/").status_code == 403
    assert client.get("/api/teams/").status_code == 403
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["view_budget", "view_team"]))
    assert client.get("/api/budgets/").status_code == 200 and client.get("/api/teams/").status_code == 200
    created = client.post("/api/teams/", {"slug": "ml"}, format="json")
    assert created.status_code == 403  # viewing is not adding
