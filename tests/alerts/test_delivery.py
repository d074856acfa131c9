"""Delivering events: signed webhooks checked with the documented snippet, retries through a receiver that goes down
and comes back, claims that never double-send and expire when their worker dies, failures, e-mail."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection

from alerts.models import BudgetEvent, Delivery, Destination
from alerts.outbox import claim_lease, delivery_claim_due, delivery_finish
from alerts.payload import event_payload
from alerts.services import budget_event_raise, delivery_retry_now, destination_create, destination_update
from tests.alerts.fixtures import documented_verify, event_fields, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Delivery.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def raise_events(count: int) -> list[BudgetEvent]:
    events = [
        budget_event_raise(**event_fields(budget_ref=f"account:{n}:monthly", owner_label=f"user-{n}"))
        for n in range(count)
    ]
    assert all(events)
    return events  # type: ignore[return-value]


def test_a_webhook_gets_the_signed_event_and_the_documented_snippet_verifies_it(dispatcher, receiver):
    saved = destination_create(name="ops", url=receiver.url)
    assert saved.new_secret.startswith("whsec_")
    event = budget_event_raise(**event_fields())
    (delivered,) = wait_until(lambda: receiver.received, what="the delivery")
    assert documented_verify()(saved.new_secret, delivered.body, delivered.headers["X-Gateway-Signature"])
    assert not documented_verify()("whsec_not-the-secret", delivered.body, delivered.headers["X-Gateway-Signature"])
    assert delivered.event_id == str(event.id)
    assert delivered.headers["Content-Type"] == "application/json"
    event.refresh_from_db()
    assert delivered.json() == event_payload(event)
    done = wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).first(), what="delivered")
    assert done.attempts == 1 and done.delivered_at is not None and done.claim is None


def test_a_slack_compatible_webhook_gets_the_text(dispatcher, receiver):
    destination_create(name="chat", kind=Destination.SLACK, url=receiver.url)
    budget_event_raise(**event_fields())
    (delivered,) = wait_until(lambda: receiver.received, what="the delivery")
    assert delivered.json() == {"text": event_payload(BudgetEvent.objects.get())["text"]}


def test_the_environment_default_webhook_is_signed_with_its_secret(dispatcher, receiver, settings):
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = receiver.url, "env-secret-of-twenty-chars"
    budget_event_raise(**event_fields())
    (delivered,) = wait_until(lambda: receiver.received, what="the delivery")
    assert documented_verify()("env-secret-of-twenty-chars", delivered.body, delivered.headers["X-Gateway-Signature"])


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(dispatcher, receiver):
    destination_create(name="ops", url=receiver.url)
    receiver.stop()
    events = raise_events(6)
    # Each delivery has been tried (and refused: nothing listens) at least once, and waits for its retry.
    wait_until(
        lambda: Delivery.objects.filter(attempts__gte=2, last_error="ClientConnectorError").count() == 6,
        what="every delivery to fail twice",
    )
    assert not Delivery.objects.filter(status__in=[Delivery.DELIVERED, Delivery.FAILED]).exists()
    receiver.start()
    wait_until(lambda: statuses() == {Delivery.DELIVERED: 6}, what="every delivery to land")
    received = receiver.event_ids()
    # At least once in all; exactly once each after the receiver's dedup by X-Gateway-Event-Id.
    assert len(received) >= 6
    assert set(received) == {str(event.id) for event in events}


def test_a_receiver_that_keeps_failing_is_retried_with_backoff_then_given_up(dispatcher, receiver, settings):
    settings.ALERT_MAX_AGE = 1.5
    receiver.status = 503
    destination_create(name="ops", url=receiver.url)
    budget_event_raise(**event_fields())
    failed = wait_until(lambda: Delivery.objects.filter(status=Delivery.FAILED).first(), what="the delivery to fail")
    assert failed.last_error == "HTTP 503"
    assert failed.attempts == len(receiver.received) >= 3
    gaps = [later.at - earlier.at for earlier, later in zip(receiver.received, receiver.received[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # backing off (doubling from 0.05 s to the 0.3 s cap, half of it jitter)
    time.sleep(0.5)
    assert len(receiver.received) == failed.attempts  # given up: no more tries

    receiver.status = 200
    assert delivery_retry_now(delivery_ids=[failed.pk]) == 1
    wait_until(lambda: statuses() == {Delivery.DELIVERED: 1}, what="the retried delivery to land")


def test_a_timeout_counts_as_a_failed_attempt(dispatcher, receiver, settings):
    settings.ALERT_TIMEOUT = 0.3
    receiver.delay = 2
    destination_create(name="ops", url=receiver.url)
    budget_event_raise(**event_fields())
    wait_until(lambda: Delivery.objects.filter(last_error="Timeout").exists(), what="a timed-out attempt")
    receiver.delay = 0
    wait_until(lambda: statuses() == {Delivery.DELIVERED: 1}, what="the delivery to land")


def test_a_disabled_destination_is_not_sent_to(dispatcher, receiver):
    saved = destination_create(name="ops", url=receiver.url)
    budget_event_raise(**event_fields())
    destination_update(destination=saved.destination, enabled=False)
    # Whichever came first: delivered before the change, or failed at once (no retries) after it.
    wait_until(lambda: statuses() in ({Delivery.DELIVERED: 1}, {Delivery.FAILED: 1}), what="an outcome")
    if statuses() == {Delivery.FAILED: 1}:
        assert Delivery.objects.get().last_error == "DestinationDisabled"
        assert receiver.received == []
    budget_event_raise(**event_fields(threshold_pct=100))
    time.sleep(0.3)
    assert Delivery.objects.count() == 1  # nothing queued for a disabled destination


def test_concurrent_claims_never_hand_one_delivery_to_two_workers():
    destination_create(name="a", url="http://127.0.0.1:9/a")
    destination_create(name="b", url="http://127.0.0.1:9/b")
    raise_events(15)
    barrier = threading.Barrier(6)

    def worker() -> list[str]:
        barrier.wait()
        mine: list[str] = []
        try:
            while batch := delivery_claim_due(limit=4):
                mine += [str(claimed.delivery_id) for claimed in batch]
        finally:
            connection.close()  # this thread's own
        return mine

    with ThreadPoolExecutor(6) as pool:
        claims = list(pool.map(lambda _: worker(), range(6)))
    claimed = [delivery for ids in claims for delivery in ids]
    assert len(claimed) == len(set(claimed)) == 30
    # Each row was claimed once (a second claim would have counted a second attempt).
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
    assert delivery_claim_due(limit=10) == []  # all held


def test_a_claim_whose_worker_died_expires_and_the_delivery_is_sent_by_another(receiver, settings):
    settings.ALERT_TIMEOUT, settings.EMAIL_TIMEOUT = 0.5, 1  # a claim of 2 x 1 + 5 s
    destination_create(name="ops", url=receiver.url)
    budget_event_raise(**event_fields())
    (dead,) = delivery_claim_due(limit=10)  # this worker then dies without a word
    assert delivery_claim_due(limit=10) == []
    lease = claim_lease().total_seconds()
    assert Delivery.objects.get().status == Delivery.SENDING
    # After the lease, another worker takes it over ...
    time.sleep(lease + 0.2)
    (taken,) = delivery_claim_due(limit=10)
    assert taken.delivery_id == dead.delivery_id and taken.claim != dead.claim and taken.attempt == 2
    # ... and the dead worker's late outcome no longer counts.
    assert delivery_finish(claimed=dead, error="") is None
    assert delivery_finish(claimed=taken, error="") == Delivery.DELIVERED


def test_an_email_goes_through_a_real_smtp_server(dispatcher, smtp, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.ALERT_EMAILS = ["finance@example.com"]
    destination_create(name="ops mail", kind=Destination.EMAIL, email="ops@example.com")
    event = budget_event_raise(**event_fields())
    wait_until(lambda: len(smtp.messages) == 2, what="two e-mails")
    assert sorted(to for recipients, _ in smtp.messages for to in recipients) == [
        "finance@example.com",
        "ops@example.com",
    ]
    _, message = smtp.messages[0]
    assert message["Subject"] == "Budget alert: team ml-research at 80 % of its monthly budget"
    assert message["X-Gateway-Event-Id"] == str(event.id)
    assert "Team ml-research spent 80 % of its 300.00 USD monthly budget" in message.get_payload()
    wait_until(lambda: statuses() == {Delivery.DELIVERED: 2}, what="both delivered")
    assert mail.outbox == []  # through SMTP, not the test backend


def test_a_queued_email_fails_at_once_when_email_is_no_longer_configured(settings):
    settings.EMAIL_HOST = "127.0.0.1"
    destination_create(name="ops mail", kind=Destination.EMAIL, email="ops@example.com")
    budget_event_raise(**event_fields())
    settings.EMAIL_HOST = ""
    (claimed,) = delivery_claim_due(limit=10)
    assert claimed.problem == "EmailNotConfigured"
    assert delivery_finish(claimed=claimed, error=claimed.problem) == Delivery.FAILED  # no retry can fix it


def test_nothing_of_a_secret_or_url_is_in_a_repr(receiver):
    saved = destination_create(name="ops", url=receiver.url + "/T000/B000/secret-path", secret="whsec_" + "k" * 30)
    budget_event_raise(**event_fields())
    (claimed,) = delivery_claim_due(limit=1)
    for text in (repr(saved), repr(saved.destination), str(saved.destination), repr(claimed)):
        assert "secret-path" not in text and "kkkk" not in text
    assert uuid.UUID(claimed.event_id)
