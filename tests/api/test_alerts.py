"""/api/alerts/: budget events filtered by budget, level and owner; destinations whose secret and URL are shown once;
the outbox's deliveries and retrying one."""

import pytest

from alerts.models import Delivery
from alerts.services import budget_event_raise, destination_create
from tests.alerts.fixtures import event_fields

SECRET_URL = "https://hooks.example.com/services/T000/B000/very-secret-path"


@pytest.fixture
def events(db):
    destination_create(name="ops", url="http://127.0.0.1:9/hook")
    team = budget_event_raise(**event_fields())
    account = budget_event_raise(
        **event_fields(budget_ref="account:alice:daily", level="account", owner_label="alice", threshold_pct=100)
    )
    return team, account


def test_events_are_listed_newest_first_with_their_delivery_state(api, events):
    team, account = events
    body = api.get("/api/alerts/events/").json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(account.id), str(team.id)]
    row = body["results"][1]
    assert row["text"].startswith("Team ml-research spent 80 % of its 300.00 USD monthly budget (240.12 USD)")
    assert row["spent_usd"] == "240.1200000000" and row["limit_usd"] == "300.0000000000"
    assert row["delivery"] == "pending"
    assert row["deliveries"] == {"pending": 1, "sending": 0, "delivered": 0, "failed": 0}


@pytest.mark.parametrize(
    ("query", "owners"),
    [
        ("budget_ref=team:7:monthly", ["ml-research"]),
        ("level=account", ["alice"]),
        ("owner=alice", ["alice"]),
        ("owner=nobody", []),
        ("level=team&owner=alice", []),
    ],
)
def test_events_filter_by_budget_level_and_owner(api, events, query, owners):
    assert [row["owner"] for row in api.get(f"/api/alerts/events/?{query}").json()["results"]] == owners


def test_one_event_and_unknown_ids(api, events):
    assert api.get(f"/api/alerts/events/{events[0].id}/").json()["threshold_pct"] == 80
    for wrong in ("00000000-0000-0000-0000-000000000000", "not-an-id", "%00"):
        assert api.get(f"/api/alerts/events/{wrong}/").status_code == 404


def test_a_webhook_created_without_a_secret_gets_one_shown_in_that_response_only(api, db):
    r = api.post("/api/alerts/destinations/", {"name": "ops", "url": SECRET_URL}, format="json")
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == "https://hooks.example.com/…"
    assert r["Cache-Control"] == "no-store"
    listed = (
        api.get("/api/alerts/destinations/").content.decode()
        + api.get(f"/api/alerts/destinations/{created['id']}/").content.decode()
    )
    assert created["secret"] not in listed and "very-secret-path" not in listed
    assert '"has_secret":true' in listed.replace(" ", "")


def test_a_given_secret_is_never_echoed(api, db):
    r = api.post(
        "/api/alerts/destinations/", {"name": "ops", "url": SECRET_URL, "secret": "my-own-secret-1234"}, format="json"
    )
    assert r.status_code == 201
    assert "my-own-secret-1234" not in r.content.decode() and r.json()["secret"] == ""


def test_patching_keeps_the_url_and_secret_unless_replaced_and_rotation_shows_the_new_one(api, db):
    saved = destination_create(name="ops", url=SECRET_URL)
    url = f"/api/alerts/destinations/{saved.destination.pk}/"
    r = api.patch(url, {"name": "ops team", "url": "", "secret": ""}, format="json")
    assert r.status_code == 200 and r.json()["secret"] == ""
    saved.destination.refresh_from_db()
    assert saved.destination.url == SECRET_URL and saved.destination.secret == saved.new_secret
    rotated = api.patch(url, {"rotate_secret": True}, format="json").json()["secret"]
    saved.destination.refresh_from_db()
    assert rotated != saved.new_secret and saved.destination.secret == rotated
    assert api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "url": "ftp://example.com/hook"}, "url"),
        ({"name": "x", "url": "http://"}, "url"),
        ({"name": "x", "url": "http://example.com:99999/"}, "url"),
        ({"name": "x", "url": "https://example.com/", "secret": "short"}, "secret"),
        ({"name": "x", "kind": "email", "email": "not-an-address"}, "email"),
        ({"name": "x", "kind": "email"}, "email"),
        ({"name": "x", "kind": "pager"}, "kind"),
        ({"name": "", "url": "https://example.com/"}, "name"),
        ({"name": "x", "url": "https://example.com/", "colour": "red"}, "colour"),
    ],
)
def test_bad_destinations_are_400_naming_the_field(api, db, body, field):
    r = api.post("/api/alerts/destinations/", body, format="json")
    assert r.status_code == 400
    assert field in r.json()


def test_an_email_destination_has_no_secret_or_url(api, db):
    r = api.post("/api/alerts/destinations/", {"name": "m", "kind": "email", "email": "ops@example.com"}, format="json")
    assert r.status_code == 201
    assert r.json() | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None,
        "name": "m",
        "kind": "email",
        "url": "",
        "email": "ops@example.com",
        "has_secret": False,
        "secret": "",
        "enabled": True,
        "created_at": None,
        "updated_at": None,
    }


def test_deleting_a_destination_drops_its_deliveries(api, events):
    destination = Delivery.objects.first().destination
    assert api.delete(f"/api/alerts/destinations/{destination.pk}/").status_code == 204
    assert not Delivery.objects.exists()
    assert api.delete(f"/api/alerts/destinations/{destination.pk}/").status_code == 404


def test_deliveries_are_listed_by_status_and_event_and_can_be_retried(api, events):
    team, _ = events
    rows = api.get(f"/api/alerts/deliveries/?event_id={team.id}").json()["results"]
    assert [(row["target"], row["status"], row["attempts"]) for row in rows] == [("ops", "pending", 0)]
    assert api.get("/api/alerts/deliveries/?status=failed").json()["count"] == 0
    assert api.get("/api/alerts/deliveries/?status=lost").status_code == 400
    assert api.get("/api/alerts/deliveries/?event_id=garbage").json()["count"] == 0
    Delivery.objects.filter(pk=rows[0]["id"]).update(status=Delivery.FAILED, attempts=7, last_error="HTTP 500")
    retried = api.post(f"/api/alerts/deliveries/{rows[0]['id']}/retry/").json()
    assert (retried["status"], retried["attempts"], retried["last_error"]) == ("pending", 0, "HTTP 500")


def test_the_schema_describes_the_alert_routes(api):
    paths = set(api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"])
    assert {
        "/api/alerts/events/",
        "/api/alerts/events/{event_id}/",
        "/api/alerts/destinations/",
        "/api/alerts/destinations/{destination_id}/",
        "/api/alerts/deliveries/",
        "/api/alerts/deliveries/{delivery_id}/retry/",
    } <= paths


def test_destination_changes_are_in_the_history_without_the_secret_or_the_url(api, db):
    created = api.post("/api/alerts/destinations/", {"name": "ops", "url": SECRET_URL}, format="json").json()
    url = f"/api/alerts/destinations/{created['id']}/"
    api.patch(url, {"url": SECRET_URL + "-2", "rotate_secret": True, "enabled": False}, format="json")
    assert api.delete(url).status_code == 204
    history = api.get(f"/api/audit/?object=alert-destination/{created['id']}")
    text = history.content.decode()
    assert "very-secret-path" not in text and created["secret"] not in text and "whsec_" not in text
    added, changed, deleted = reversed(history.json()["results"])
    assert (added["action"], added["via"], added["actor"]) == ("added", "api", "system.admin-api-key")
    assert added["changes"]["url"] == "https://hooks.example.com/…"
    assert changed["changes"] == {
        "url": ["https://hooks.example.com/…", "replaced"],
        "secret": ["", "replaced"],
        "enabled": [True, False],
    }
    assert deleted["action"] == "deleted"


def test_an_operator_token_needs_the_models_permissions(db, events, django_user_model):
    from django.contrib.auth.models import Permission

    from tests.api.test_operator_tokens import client_for

    user = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_budgetevent", "view_delivery"]))
    client, _ = client_for(user)
    assert client.get("/api/alerts/events/").status_code == 200
    assert client.get("/api/alerts/deliveries/").status_code == 200
    assert client.get("/api/alerts/destinations/").status_code == 403
    assert client.post("/api/alerts/destinations/", {"name": "x", "url": SECRET_URL}, format="json").status_code == 403
    delivery = Delivery.objects.first()
    assert client.post(f"/api/alerts/deliveries/{delivery.pk}/retry/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_delivery"))
    client, _ = client_for(django_user_model.objects.get(pk=user.pk))  # permissions are cached per user object
    assert client.post(f"/api/alerts/deliveries/{delivery.pk}/retry/").status_code == 200
