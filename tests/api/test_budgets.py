"""The budgets and teams routes: budgets at every level with their current window and history, teams."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.test import override_settings

from budgets.models import Budget
from tests.budgets.clock import Clock
from tests.budgets.ledger_helpers import reserve, settle

T0 = datetime.fromisoformat("2026-12-03T10:00:00+00:00")


@pytest.fixture
def clock():
    Clock.now = T0
    with override_settings(BUDGET_CLOCK="tests.budgets.clock.now"):
        yield Clock
    Clock.now = None


def test_a_team_with_a_monthly_budget_and_an_account_in_it(api):
    assert api.post("/api/teams/", {"slug": "ml", "name": "ML research"}, format="json").status_code == 201
    assert api.post("/api/accounts/", {"user_id": "ana", "team": "ml"}, format="json").json()["team"] == "ml"
    r = api.post(
        "/api/budgets/",
        {"level": "team", "owner": "ml", "limit_usd": "300", "period": "month", "timezone": "Europe/Paris"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["level"], body["owner"], body["label"]) == ("team", "ml", "monthly (Europe/Paris)")
    assert body["thresholds"] == [50, 80, 100]
    assert body["window"]["remaining_usd"] == "300.0000000000"
    team = api.get("/api/teams/ml/").json()
    assert (team["accounts"], [b["id"] for b in team["budgets"]]) == (["ana"], [body["id"]])


def test_budgets_at_each_level_are_listed_by_owner(api, account):
    key = api.post("/api/keys/", {"user_id": "alice", "name": "ci"}, format="json").json()
    cap = {"level": "key", "owner": str(key["id"]), "limit_usd": "5", "period": "day"}
    assert api.post("/api/budgets/", cap, format="json").status_code == 201
    listed = api.get("/api/budgets/", {"level": "key", "owner": str(key["id"])}).json()["results"]
    assert [(b["level"], b["limit_usd"]) for b in listed] == [("key", "5.0000000000")]
    lifetime = api.get("/api/budgets/", {"level": "account", "owner": "alice"}).json()["results"]
    assert [(b["period"], b["limit_usd"]) for b in lifetime] == [("lifetime", "10.0000000000")]


def test_the_history_keeps_each_closed_window(api, account, clock):
    budget = api.post(
        "/api/budgets/",
        {"level": "account", "owner": "alice", "limit_usd": "1", "period": "interval", "interval_seconds": 60},
        format="json",
    ).json()
    request = uuid.uuid4()
    assert reserve(account.pk, request, "0.5")
    settle([(request, account.pk, "0.4")])
    clock.now = T0 + timedelta(seconds=60)
    assert reserve(account.pk, uuid.uuid4(), "0.5")  # the next window starts: the first closes
    history = api.get(f"/api/budgets/{budget['id']}/history/").json()["results"]
    assert [(h["start"][:19], h["spent_usd"]) for h in history] == [("2026-12-03T10:00:00", "0.4000000000")]
    window = api.get(f"/api/budgets/{budget['id']}/").json()["window"]
    assert (window["start"][:19], window["reserved_usd"]) == ("2026-12-03T10:01:00", "0.5000000000")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"level": "account", "owner": "nobody", "limit_usd": "1"}, "owner"),
        ({"level": "galaxy", "owner": "alice", "limit_usd": "1"}, "level"),
        ({"level": "account", "owner": "alice", "limit_usd": "-1"}, "limit_usd"),
        ({"level": "account", "owner": "alice", "limit_usd": "1", "period": "fortnight"}, "period"),
        ({"level": "account", "owner": "alice", "limit_usd": "1", "colour": "red"}, "colour"),
    ],
)
def test_bad_budgets_are_400_naming_the_field(api, account, payload, field):
    r = api.post("/api/budgets/", payload, format="json")
    assert r.status_code == 400
    assert field in r.json()


@pytest.mark.parametrize(
    "payload",
    [
        {"period": "day", "timezone": "Mars/Olympus"},
        {"period": "interval", "interval_seconds": 0},
        {"period": "month", "anchor": 0},
        {"thresholds": [0, 50]},
    ],
)
def test_a_window_that_cannot_be_is_400(api, account, payload):
    r = api.post("/api/budgets/", {"level": "account", "owner": "alice", "limit_usd": "1", **payload}, format="json")
    assert r.status_code == 400, r.json()


def test_a_budget_can_be_changed_and_removed(api, account):
    budget = Budget.objects.get(account=account)
    r = api.patch(f"/api/budgets/{budget.pk}/", {"limit_usd": "25"}, format="json")
    assert (r.status_code, r.json()["limit_usd"]) == (200, "25.0000000000")
    assert api.get("/api/accounts/alice/").json()["budget_usd"] == "25.0000000000"
    assert api.delete(f"/api/budgets/{budget.pk}/").status_code == 204
    assert api.get("/api/accounts/alice/").json()["budget_usd"] is None
    assert api.get(f"/api/budgets/{budget.pk}/").status_code == 404


def test_a_team_cannot_be_inside_itself(api):
    api.post("/api/teams/", {"slug": "org"}, format="json")
    api.post("/api/teams/", {"slug": "ml", "parent": "org"}, format="json")
    r = api.patch("/api/teams/org/", {"parent": "ml"}, format="json")
    assert r.status_code == 400


def test_budget_and_team_changes_are_in_the_history_with_who_made_them(api, admin_client):
    team = api.post("/api/teams/", {"slug": "ml", "name": "ML"}, format="json")
    assert team.status_code == 201
    created = api.post(
        "/api/budgets/", {"level": "team", "owner": "ml", "limit_usd": "300", "period": "month"}, format="json"
    )
    budget_id = created.json()["id"]
    assert api.patch(f"/api/budgets/{budget_id}/", {"limit_usd": "350"}, format="json").status_code == 200
    history = admin_client.get(f"/api/audit/?object=budget/{budget_id}").json()["results"]
    assert [entry["action"] for entry in history] == ["changed", "added"]
    assert history[0]["changes"] == {"limit_usd": ["300", "350"]} and history[0]["via"] == "api"
    assert admin_client.get("/api/audit/?object=team/ml").json()["results"][0]["action"] == "added"
