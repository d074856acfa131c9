"""Budget windows: where the window that holds a given instant starts and ends, for every kind of period.

Pure arithmetic on aware datetimes (results in UTC), so every instance and worker computes the
same boundaries without talking to each other; the ledger then starts a window over lazily and
exactly once with a conditional update (budgets.ledger).

- lifetime: one window that never ends (start and end are None);
- interval: fixed lengths of `seconds`, aligned on the Unix epoch (so a daily interval turns at
  00:00 UTC and any two instances agree on every boundary);
- day, week, month: calendar periods in the budget's own IANA time zone, starting at local
  midnight; a week starts on `anchor` (0 = Monday … 6 = Sunday), a month on day `anchor`
  (1–31; in a shorter month, its last day).
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVAL_MIN = 1
INTERVAL_MAX = 366 * 86_400


class Period(StrEnum):
    LIFETIME = "lifetime"
    INTERVAL = "interval"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class WindowSpec:
    period: Period
    seconds: int = 0  # interval only
    tz: str = "UTC"  # day, week, month
    anchor: int = 0  # week: first weekday (0 = Monday); month: first day (1-31)


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: a lifetime window
    end: datetime | None

    def contains(self, instant: datetime) -> bool:
        return self.start is None or (self.start <= instant < self.end)  # type: ignore[operator]


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def spec_errors(spec: WindowSpec) -> list[str]:
    """What is wrong with a spec, in words for an operator; empty when it is valid."""
    errors = []
    if spec.period is Period.INTERVAL and not INTERVAL_MIN <= spec.seconds <= INTERVAL_MAX:
        errors.append(f"An interval is {INTERVAL_MIN} s to {INTERVAL_MAX // 86_400} days long.")
    if spec.period in (Period.DAY, Period.WEEK, Period.MONTH) and spec.tz not in _zones():
        errors.append(f"Unknown time zone {spec.tz!r}: use an IANA name such as 'Europe/Paris'.")
    if spec.period is Period.WEEK and not 0 <= spec.anchor <= 6:
        errors.append("A week starts on day 0 (Monday) to 6 (Sunday).")
    if spec.period is Period.MONTH and not 1 <= spec.anchor <= 31:
        errors.append("A month starts on day 1 to 31 (the last day in shorter months).")
    return errors


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _month_start(year: int, month: int, anchor: int) -> date:
    return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))


def _shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def window_at(spec: WindowSpec, instant: datetime) -> Window:
    """The window of `spec` that holds `instant` (an aware datetime)."""
    if spec.period is Period.LIFETIME:
        return Window(None, None)
    if spec.period is Period.INTERVAL:
        step = timedelta(seconds=spec.seconds)
        start = _EPOCH + step * ((instant - _EPOCH) // step)
        return Window(start, start + step)
    try:
        tz = zone(spec.tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = zone("UTC")  # refused when saved (spec_errors); never a failed call for a zone removed since
    local = instant.astimezone(tz).date()
    if spec.period is Period.DAY:
        return Window(_midnight(local, tz), _midnight(local + timedelta(days=1), tz))
    if spec.period is Period.WEEK:
        first = local - timedelta(days=(local.weekday() - spec.anchor) % 7)
        return Window(_midnight(first, tz), _midnight(first + timedelta(days=7), tz))
    first = _month_start(local.year, local.month, spec.anchor)
    year, month = local.year, local.month
    if local < first:
        year, month = _shift_month(year, month, -1)
        first = _month_start(year, month, spec.anchor)
    following = _month_start(*_shift_month(year, month, 1), spec.anchor)
    return Window(_midnight(first, tz), _midnight(following, tz))


def describe(spec: WindowSpec) -> str:
    """A short label for operators: 'lifetime', 'every 30 s', 'daily (Europe/Paris)', 'monthly from day 15 (UTC)'."""
    if spec.period is Period.LIFETIME:
        return "lifetime"
    if spec.period is Period.INTERVAL:
        seconds = spec.seconds
        for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
            if seconds % size == 0:
                return f"every {seconds // size} {unit}"
        return f"every {seconds} s"
    if spec.period is Period.DAY:
        return f"daily ({spec.tz})"
    if spec.period is Period.WEEK:
        return f"weekly from {calendar.day_name[spec.anchor]} ({spec.tz})"
    return f"monthly from day {spec.anchor} ({spec.tz})" if spec.anchor != 1 else f"monthly ({spec.tz})"
