"""What receivers get: the one-line text chat apps show, the JSON fields, and a signature the docs' snippet accepts."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from alerts.models import BudgetEvent, Destination
from alerts.payload import event_payload, event_text, signature, webhook_body
from alerts.services import event_id
from tests.alerts.fixtures import documented_verify, event_fields

pytestmark = pytest.mark.engine_independent


def event(**changes):
    fields = event_fields(**changes)
    pk = event_id(budget_ref=fields["budget_ref"], window_start=fields["window_start"], threshold_pct=80)
    return BudgetEvent(id=pk, created_at=datetime(2026, 12, 20, 9, 30, tzinfo=UTC), **fields)


def test_the_text_says_who_spent_what_of_which_budget_and_when_it_resets_in_its_time_zone():
    paris = event(window_end=datetime(2026, 12, 31, 23, 0, tzinfo=UTC), time_zone="Europe/Paris")
    assert event_text(paris) == (
        "Team ml-research spent 80 % of its 300.00 USD monthly budget (240.12 USD)"
        " — resets 2027-01-01 00:00 Europe/Paris"
    )


def test_a_lifetime_budget_never_resets():
    lifetime = event(level="account", owner_label="alice", window_label="lifetime", window_start=None, window_end=None)
    assert event_text(lifetime) == "Account alice spent 80 % of its 300.00 USD lifetime budget (240.12 USD)"


def test_a_budget_below_a_cent_keeps_its_places():
    tiny = event(limit_usd=Decimal("0.005"), spent_usd=Decimal("0.004"), window_end=None)
    assert "0.005 USD monthly budget (0.004 USD)" in event_text(tiny)


def test_the_json_body_carries_the_event_with_exact_amounts():
    body = orjson.loads(webhook_body(event(), channel=Destination.WEBHOOK))
    assert body == event_payload(event())
    assert body["type"] == "budget.threshold_crossed"
    assert body["spent_usd"] == "240.1200000000"
    assert body["window_start"] == "2026-12-01T00:00:00+00:00"
    assert body["text"].startswith("Team ml-research spent 80 %")


def test_a_slack_body_is_the_text_alone():
    body = orjson.loads(webhook_body(event(), channel=Destination.SLACK))
    assert body == {"text": event_text(event())}


def test_the_event_id_is_the_same_wherever_it_is_computed_and_differs_per_window_and_threshold():
    one = event_id(budget_ref="a", window_start=datetime(2026, 1, 1, tzinfo=UTC), threshold_pct=50)
    assert one == event_id(budget_ref="a", window_start=datetime(2026, 1, 1, tzinfo=UTC), threshold_pct=50)
    assert one != event_id(budget_ref="a", window_start=datetime(2026, 2, 1, tzinfo=UTC), threshold_pct=50)
    assert one != event_id(budget_ref="a", window_start=datetime(2026, 1, 1, tzinfo=UTC), threshold_pct=80)
    assert one != event_id(budget_ref="a", window_start=None, threshold_pct=50)


def test_the_documented_snippet_accepts_a_signature_and_refuses_a_changed_body_or_secret_or_an_old_one():
    verify = documented_verify()
    body, now = b'{"id": "x"}', int(time.time())
    header = signature(secret="whsec_test-secret", timestamp=now, body=body)
    assert verify("whsec_test-secret", body, header)
    assert not verify("whsec_test-secret", body + b" ", header)
    assert not verify("whsec_other-secret", body, header)
    assert not verify("whsec_test-secret", body, signature(secret="whsec_test-secret", timestamp=now - 3600, body=body))
    assert not verify("whsec_test-secret", body, "garbage")
