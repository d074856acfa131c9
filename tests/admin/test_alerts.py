"""Admin for alerts: events with their delivery state, destinations whose secret and URL are shown once, the outbox
with its retry-now action."""

import re

from django.urls import reverse

from alerts.models import Delivery, Destination
from alerts.services import budget_event_raise, destination_create
from tests.alerts.fixtures import event_fields

SLACK_URL = "https://hooks.slack.com/services/T000/B000/the-credential-part"


def destination_form(**fields):
    return {"name": "ops", "kind": "webhook", "url": "", "email": "", "new_secret": "", "enabled": "on", **fields}


def secret_on(page: str) -> str:
    match = re.search(r'id="new-secret"[^>]*value="([^"]+)"', page)
    assert match, "the new secret is not on the page"
    return match.group(1)


def test_the_events_list_shows_budget_window_threshold_spend_and_delivery(admin_client, db):
    destination_create(name="ops", url="http://127.0.0.1:9/hook")
    event = budget_event_raise(**event_fields())
    Delivery.objects.update(status=Delivery.FAILED, last_error="HTTP 500")
    page = admin_client.get(reverse("admin:alerts_budgetevent_changelist")).content.decode()
    for text in ("ml-research", "monthly", "80 %", "$240.12 / $300.00", "failed"):
        assert text in page
    detail = admin_client.get(reverse("admin:alerts_budgetevent_change", args=[event.pk])).content.decode()
    assert "Team ml-research spent 80 % of its 300.00 USD monthly budget (240.12 USD)" in detail
    assert "HTTP 500" in detail  # its deliveries, inline


def test_creating_a_webhook_shows_the_generated_secret_once_and_never_the_url_again(admin_client, db):
    response = admin_client.post(reverse("admin:alerts_destination_add"), destination_form(url=SLACK_URL))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = secret_on(response.content.decode())
    destination = Destination.objects.get()
    assert destination.secret == secret and destination.url == SLACK_URL
    for url in (
        reverse("admin:alerts_destination_change", args=[destination.pk]),
        reverse("admin:alerts_destination_changelist"),
    ):
        page = admin_client.get(url).content.decode()
        assert secret not in page and "the-credential-part" not in page
        assert "https://hooks.slack.com/…" in page


def test_saving_with_empty_url_and_secret_keeps_them_and_rotation_shows_the_new_secret(admin_client, db):
    saved = destination_create(name="ops", url=SLACK_URL, secret="an-operator-chosen-secret")
    url = reverse("admin:alerts_destination_change", args=[saved.destination.pk])
    assert admin_client.post(url, destination_form(name="ops team")).status_code == 302
    saved.destination.refresh_from_db()
    assert (saved.destination.name, saved.destination.url) == ("ops team", SLACK_URL)
    assert saved.destination.secret == "an-operator-chosen-secret"
    response = admin_client.post(url, destination_form(rotate_secret="on"))
    saved.destination.refresh_from_db()
    assert secret_on(response.content.decode()) == saved.destination.secret != "an-operator-chosen-secret"


def test_a_bad_destination_is_refused_on_the_form(admin_client, db):
    response = admin_client.post(reverse("admin:alerts_destination_add"), destination_form(url="ftp://x/"))
    assert response.status_code == 200
    assert "A webhook needs an http:// or https:// URL" in response.content.decode()
    assert not Destination.objects.exists()


def test_an_email_destination_says_when_email_is_not_configured(admin_client, db, settings):
    settings.EMAIL_HOST = ""
    destination_create(name="mail", kind=Destination.EMAIL, email="ops@example.com")
    page = admin_client.get(reverse("admin:alerts_destination_changelist")).content.decode()
    assert "EMAIL_HOST not set" in page


def test_retry_now_queues_failed_deliveries_at_once(admin_client, db):
    destination_create(name="ops", url="http://127.0.0.1:9/hook")
    budget_event_raise(**event_fields())
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=Delivery.FAILED, attempts=9, last_error="Timeout")
    page = admin_client.get(reverse("admin:alerts_delivery_changelist")).content.decode()
    assert "Timeout" in page and "ops" in page
    response = admin_client.post(
        reverse("admin:alerts_delivery_changelist"),
        {"action": "retry_now", "_selected_action": [str(delivery.pk)]},
        follow=True,
    )
    assert "Queued 1 deliveries to be sent now." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.PENDING, 0)


def test_a_destination_change_in_the_admin_is_in_its_history_once_without_secrets(admin_client, db):
    saved = destination_create(name="ops", url=SLACK_URL, secret="an-operator-chosen-secret")
    url = reverse("admin:alerts_destination_change", args=[saved.destination.pk])
    assert admin_client.post(url, destination_form(name="ops team", url=SLACK_URL + "x")).status_code == 302
    page = admin_client.get(reverse("admin:alerts_destination_history", args=[saved.destination.pk])).content.decode()
    assert "name: ops → ops team" in page and "url: https://hooks.slack.com/… → replaced" in page
    assert "the-credential-part" not in page and "an-operator-chosen-secret" not in page
    assert page.count("ops → ops team") == 1
