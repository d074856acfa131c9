"""The alert outbox across a killed gateway process: what it was sending, what failed and waits for its retry, and
what was raised while no process ran are all delivered by the next process, from the rows in the database."""

import signal

import pytest

from alerts.models import Delivery
from alerts.services import budget_event_raise, destination_create
from tests.alerts.fixtures import event_fields, wait_until
from tests.alerts.receivers import WebhookReceiver

# Fast retries; sends time out after 1 s (10 s for the first process, held mid-send until it is killed), so a
# claim lasts 2 x 1 + 5 s for the second process, and 2 x 10 + 5 for the first (alerts.outbox.claim_lease).
OUTBOX = {
    "GATEWAY_ALERT_POLL": "0.2",
    "GATEWAY_ALERT_RETRY_BASE": "0.2",
    "GATEWAY_ALERT_RETRY_CAP": "1",
    "GATEWAY_ALERT_TIMEOUT": "1",
    "EMAIL_TIMEOUT": "1",
}


@pytest.mark.timeout(420)  # two gateway start-ups, each a minute and more on a loaded machine
def test_the_outbox_outlives_a_killed_process(start, suite_gateway_env):
    slow, down = WebhookReceiver().start(), WebhookReceiver()  # `down` has nothing listening yet
    slow.delay = 60  # holds the first process's sends open (each until its 10 s timeout) until it is killed
    destination_create(name="slow", url=slow.url)
    try:
        (first,) = start(suite_gateway_env, **{**OUTBOX, "GATEWAY_ALERT_TIMEOUT": "10"})
        sent = budget_event_raise(**event_fields(threshold_pct=50))
        wait_until(lambda: slow.in_flight == 1, 120, "the first process to be sending")
        destination_create(name="down", url=down.url)
        failing = budget_event_raise(**event_fields(threshold_pct=80))
        wait_until(lambda: Delivery.objects.filter(destination__name="down", attempts__gte=2).exists(), 60, "retries")
        first.signal(signal.SIGKILL)
        first.wait(10)
        later = budget_event_raise(**event_fields(threshold_pct=100))  # raised while no process runs
        # Claimed by a process that no longer exists (or waiting for its retry); never tried.
        assert Delivery.objects.get(event=sent).status in (Delivery.SENDING, Delivery.PENDING)
        assert Delivery.objects.get(event=failing, destination__name="down").attempts >= 2
        assert {d.attempts for d in Delivery.objects.filter(event=later)} == {0}
        slow.delay = 0
        down.start()
        start(suite_gateway_env, **OUTBOX)
        wait_until(lambda: Delivery.objects.exclude(status=Delivery.DELIVERED).count() == 0, 120, "every delivery")
        events = {str(event.id) for event in (sent, failing, later)}
        # At least once: the killed process's attempt reached the slow receiver too; its dedup by event id keeps one.
        assert set(slow.event_ids()) == events
        assert slow.event_ids().count(str(sent.id)) >= 2
        assert set(down.event_ids()) == {str(failing.id), str(later.id)}
    finally:
        slow.stop()
        down.stop()
