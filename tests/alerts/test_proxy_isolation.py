"""A slow or dead alert endpoint never slows or fails a proxied call: delivery runs beside the calls, not in them."""

import time

import httpx
import pytest

from alerts.models import Delivery
from alerts.services import budget_event_raise, destination_create
from tests.alerts.fixtures import event_fields, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
SLOW_S = 4.0


def test_calls_stay_fast_while_the_gateways_own_delivery_loop_waits_on_a_slow_receiver(
    gateway, customer, receiver, fast_outbox
):
    fast_outbox.ALERT_TIMEOUT = 10.0
    receiver.delay = SLOW_S
    destination_create(name="slow", url=receiver.url)
    for threshold in (50, 80, 100):
        budget_event_raise(**event_fields(threshold_pct=threshold))
    # The gateway's delivery loop (started with its upkeep) is now waiting on the receiver.
    wait_until(lambda: receiver.in_flight == 3, what="the gateway to be sending all three")
    durations = []
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {customer.key}"}, timeout=30) as client:
        for _ in range(5):
            started = time.monotonic()
            reply = client.post(
                "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            )
            durations.append(time.monotonic() - started)
            assert reply.status_code == 200
    assert receiver.in_flight == 3  # the calls ran while every delivery was still waiting on the receiver
    assert max(durations) < SLOW_S / 2, durations
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 3, what="the slow deliveries")


def test_calls_succeed_while_the_receiver_is_down(gateway, customer, receiver, fast_outbox):
    destination_create(name="down", url=receiver.url)
    receiver.stop()
    budget_event_raise(**event_fields())
    wait_until(lambda: Delivery.objects.filter(attempts__gte=2).exists(), what="failed attempts")
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {customer.key}"}, timeout=30) as client:
        for _ in range(3):
            reply = client.post(
                "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            )
            assert reply.status_code == 200
    # Still in the outbox, between attempts or in one (the quick retries may have claimed it again).
    assert Delivery.objects.get().status in (Delivery.PENDING, Delivery.SENDING)
