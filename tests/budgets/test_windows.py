"""Budget windows: boundaries for every kind of period, in UTC and in other time zones, DST included."""

from datetime import UTC, datetime

import pytest

from budgets.windows import Period, WindowSpec, describe, spec_errors, window_at

pytestmark = pytest.mark.engine_independent


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_lifetime_window_never_ends():
    window = window_at(WindowSpec(Period.LIFETIME), at("2026-12-03T10:00:00+00:00"))
    assert (window.start, window.end) == (None, None)
    assert window.contains(at("1999-01-01T00:00:00+00:00"))


def test_intervals_are_aligned_on_the_epoch_so_every_instance_agrees():
    window = window_at(WindowSpec(Period.INTERVAL, seconds=5), at("2026-12-03T10:00:07.300+00:00"))
    assert window.start == at("2026-12-03T10:00:05+00:00")
    assert window.end == at("2026-12-03T10:00:10+00:00")
    daily = window_at(WindowSpec(Period.INTERVAL, seconds=86_400), at("2026-12-03T23:59:59+00:00"))
    assert daily.start == at("2026-12-03T00:00:00+00:00")


def test_a_boundary_belongs_to_the_window_it_starts():
    spec = WindowSpec(Period.INTERVAL, seconds=60)
    assert window_at(spec, at("2026-12-03T10:01:00+00:00")).start == at("2026-12-03T10:01:00+00:00")
    assert window_at(spec, at("2026-12-03T10:00:59.999999+00:00")).start == at("2026-12-03T10:00:00+00:00")


def test_a_day_starts_at_local_midnight():
    window = window_at(WindowSpec(Period.DAY, tz="Europe/Paris"), at("2026-12-03T23:30:00+00:00"))
    assert window.start == at("2026-12-04T00:00:00+01:00")  # already the 4th in Paris
    assert window.end == at("2026-12-05T00:00:00+01:00")


def test_a_day_with_a_daylight_saving_change_is_23_or_25_hours_long():
    spring = window_at(WindowSpec(Period.DAY, tz="Europe/Paris"), at("2026-03-29T12:00:00+00:00"))
    assert spring.start and spring.end
    assert spring.end - spring.start == (at("2026-03-30T00:00:00+02:00") - at("2026-03-29T00:00:00+01:00"))
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    autumn = window_at(WindowSpec(Period.DAY, tz="Europe/Paris"), at("2026-10-25T12:00:00+00:00"))
    assert autumn.start and autumn.end
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600


def test_a_week_starts_on_its_anchor_day():
    monday = window_at(WindowSpec(Period.WEEK, tz="UTC", anchor=0), at("2026-12-03T10:00:00+00:00"))  # a Thursday
    assert monday.start == at("2026-11-30T00:00:00+00:00")
    sunday = window_at(WindowSpec(Period.WEEK, tz="UTC", anchor=6), at("2026-12-03T10:00:00+00:00"))
    assert sunday.start == at("2026-11-29T00:00:00+00:00")
    assert sunday.end == at("2026-12-06T00:00:00+00:00")


def test_a_month_starts_on_day_one_at_local_midnight():
    spec = WindowSpec(Period.MONTH, tz="America/New_York", anchor=1)
    window = window_at(spec, at("2027-01-01T03:00:00+00:00"))  # still December 31st in New York
    assert window.start == at("2026-12-01T00:00:00-05:00")
    assert window.end == at("2027-01-01T00:00:00-05:00")
    assert window_at(spec, at("2027-01-01T05:00:00+00:00")).start == at("2027-01-01T00:00:00-05:00")


def test_a_month_anchored_past_a_short_month_uses_its_last_day():
    spec = WindowSpec(Period.MONTH, tz="UTC", anchor=31)
    february = window_at(spec, at("2027-02-28T10:00:00+00:00"))
    assert february.start == at("2027-02-28T00:00:00+00:00")
    assert february.end == at("2027-03-31T00:00:00+00:00")
    assert window_at(spec, at("2027-02-27T10:00:00+00:00")).start == at("2027-01-31T00:00:00+00:00")


def test_windows_are_reported_in_utc():
    window = window_at(WindowSpec(Period.DAY, tz="Asia/Kolkata"), at("2026-12-03T20:00:00+00:00"))
    assert window.start.tzinfo == UTC
    assert window.start == at("2026-12-03T18:30:00+00:00")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (WindowSpec(Period.INTERVAL, seconds=0), "interval"),
        (WindowSpec(Period.DAY, tz="Mars/Olympus"), "time zone"),
        (WindowSpec(Period.WEEK, anchor=7), "week"),
        (WindowSpec(Period.MONTH, anchor=0), "month"),
    ],
)
def test_a_bad_spec_is_explained(spec, message):
    assert any(message in error for error in spec_errors(spec))


def test_labels_read_as_operators_say_them():
    assert describe(WindowSpec(Period.INTERVAL, seconds=86_400)) == "every 1 d"
    assert describe(WindowSpec(Period.MONTH, tz="Europe/Paris", anchor=1)) == "monthly (Europe/Paris)"
    assert describe(WindowSpec(Period.LIFETIME)) == "lifetime"
