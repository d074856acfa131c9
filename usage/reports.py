"""Totals and grouped sums of usage over any time range, read from rollups (whole buckets) and rows (the edges).

A range [since, until) is cut into the largest whole buckets that fit: whole months, then whole
days at its two ends, then whole hours, then the minutes left at each end, which are summed from
the rows themselves (each under an hour, found through the rows' time indexes). So a total is
exact for any since/until and reads at most four small sets, whatever the size of the usage
table. Times are UTC; a week starts on Monday.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from core.money import ZERO
from pricing.selectors import price_key
from usage.models import Span, UsageLog, UsageRollup
from usage.rollups import span_next, span_start

_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
# What a report groups by (the API's names) and the rollup column of each.
GROUPS = {
    "team": "account__team_id",  # the team the account belongs to now (usage rows do not record one)
    "account": "account_id",
    "key": "api_key_id",
    "model": "model",
    "provider": "provider",
    "route": "route",
    "status": "status_class",
}
PERIODS = ("day", "week", "month")
_ROW_COLUMN = {"status_class": "status_code"}  # a row has the code; its class is code // 100


@dataclass(frozen=True)
class UsageTotals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = ZERO

    def __add__(self, other: "UsageTotals") -> "UsageTotals":
        # Spelt out: a report adds thousands of these, and fields() per addition was most of its time.
        return UsageTotals(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True)
class UsageScope:
    """The usage a total or report covers; each field set narrows it (None: no limit on that)."""

    since: datetime | None = None
    until: datetime | None = None
    account_id: Any = None
    team_ids: tuple[Any, ...] | None = None  # accounts in these teams now (a team and the teams inside it)
    key_id: Any = None
    models: tuple[str, ...] | None = None  # names exactly as stored: see model_names
    provider: str | None = None
    route: str | None = None
    status_class: int | None = None

    def rollup_filter(self) -> dict[str, Any]:
        found = {
            "account_id": self.account_id,
            "account__team_id__in": self.team_ids,
            "api_key_id": self.key_id,
            "model__in": self.models,
            "provider": self.provider,
            "route": self.route,
            "status_class": self.status_class,
        }
        return {name: value for name, value in found.items() if value is not None}

    def row_filter(self) -> dict[str, Any]:
        found = {name: value for name, value in self.rollup_filter().items() if name != "status_class"}
        if self.status_class is not None:
            found.update(status_code__gte=self.status_class * 100, status_code__lt=self.status_class * 100 + 100)
        return found


def model_names(*, name: str, account_id: Any = None) -> tuple[str, ...]:
    """The stored model names that `name` matches as prices match names (case and surrounding blanks aside)."""
    wanted = price_key(name)
    found = UsageRollup.objects.filter(span=Span.MONTH, model__icontains=wanted)
    if account_id is not None:
        found = found.filter(account_id=account_id)
    names = found.order_by().values_list("model", flat=True).distinct()
    return tuple(sorted({stored for stored in names if price_key(stored) == wanted}))


def period_start(moment: datetime, period: str) -> datetime:
    day = span_start(moment, Span.DAY)
    if period == "week":
        return day - timedelta(days=day.weekday())
    return span_start(moment, Span.MONTH) if period == "month" else day


@dataclass(frozen=True)
class Piece:
    """A part of the range read from one span's rollups, or from the rows (span None)."""

    span: str | None
    start: datetime | None
    end: datetime | None


_LONGEST_FIRST = [Span.MONTH, Span.DAY, Span.HOUR]


def _ceil(moment: datetime, span: str) -> datetime:
    start = span_start(moment, span)
    return start if start == moment else span_next(start, span)


def cover(since: datetime | None, until: datetime | None, top: str = Span.MONTH) -> list[Piece]:
    """[since, until) as the largest whole buckets (from `top` down) and the rows' minutes at its ends."""
    spans = _LONGEST_FIRST[_LONGEST_FIRST.index(Span(top)) :]
    pieces: list[Piece] = []

    def split(low: datetime | None, high: datetime | None, level: int) -> None:
        if low is not None and high is not None and low >= high:
            return
        if level == len(spans):
            pieces.append(Piece(None, low, high))
            return
        span = spans[level]
        first = None if low is None else _ceil(low, span)
        last = None if high is None else span_start(high, span)
        if first is not None and last is not None and first >= last:
            split(low, high, level + 1)
            return
        pieces.append(Piece(span, first, last))
        if low is not None and first is not None:
            split(low, first, level + 1)
        if high is not None and last is not None:
            split(last, high, level + 1)

    split(since, until, 0)
    return pieces


def _range(column: str, piece: Piece) -> Q:
    bounds = {}
    if piece.start is not None:
        bounds[f"{column}__gte"] = piece.start
    if piece.end is not None:
        bounds[f"{column}__lt"] = piece.end
    return Q(**bounds)


def _sums(count: Any) -> dict[str, Any]:
    return {"n_requests": count, "n_cost_usd": Sum("cost_usd"), **{f"n_{name}": Sum(name) for name in _TOKENS}}


def _totals(group: dict[str, Any]) -> UsageTotals:
    return UsageTotals(
        requests=group["n_requests"] or 0,
        cost_usd=group["n_cost_usd"] or ZERO,
        **{name: group[f"n_{name}"] or 0 for name in _TOKENS},
    )


Group = tuple[Any, ...]  # (period start or None, then one value per group_by name)


def _grouped(found: Any, by: list[str], count: Any) -> Iterator[dict[str, Any]]:
    """SUMs per group of `by`; with no group, one aggregate (`.values()` of nothing would group by every column)."""
    if not by:
        yield found.order_by().aggregate(**_sums(count))
        return
    yield from found.values(*by).annotate(**_sums(count)).order_by()


def _from_rollups(scope: UsageScope, span: str, pieces: list[Piece], columns: list[str], period: str | None) -> Any:
    where = Q()
    for piece in pieces:
        where |= _range("bucket", piece)
    found = UsageRollup.objects.filter(where, span=span, **scope.rollup_filter())
    by = [*columns, "bucket"] if period else columns
    for group in _grouped(found, by, Sum("requests")):
        when = period_start(group["bucket"], period) if period else None
        yield (when, *(group[column] for column in columns)), _totals(group)


def _from_rows(scope: UsageScope, piece: Piece, columns: list[str], period: str | None) -> Any:
    found = UsageLog.objects.filter(_range("created_at", piece), **scope.row_filter())
    by = [_ROW_COLUMN.get(column, column) for column in columns]
    anchor = piece.start or piece.end  # a row piece lies within one hour, so within one period
    when = period_start(anchor, period) if period and anchor else None
    for group in _grouped(found, by, Count("id")):
        values = [group[_ROW_COLUMN.get(column, column)] for column in columns]
        if "status_class" in columns:
            index = columns.index("status_class")
            values[index] = values[index] // 100
        yield (when, *values), _totals(group)


# What the narrow day rollups (Span.KEY_DAY) keep: a report grouped and filtered on these only reads them.
_KEY_DAY_COLUMNS = {"account_id", "account__team_id", "api_key_id", "model", "provider"}


def _day_span(scope: UsageScope, columns: list[str]) -> str:
    """KEY_DAY where it holds what is asked (about a twelfth of the day rollups to read), else DAY."""
    if scope.route is None and scope.status_class is None and set(columns) <= _KEY_DAY_COLUMNS:
        return Span.KEY_DAY
    return Span.DAY


def _parts(scope: UsageScope, columns: list[str], period: str | None) -> Iterator[tuple[Group, UsageTotals]]:
    top = Span.DAY if period in ("day", "week") else Span.MONTH
    pieces = cover(scope.since, scope.until, top)
    for span in _LONGEST_FIRST:
        of_span = [piece for piece in pieces if piece.span == span]
        if of_span:
            read = _day_span(scope, columns) if span == Span.DAY else span
            yield from _from_rollups(scope, read, of_span, columns, period)
    for piece in pieces:
        if piece.span is None:
            yield from _from_rows(scope, piece, columns, period)


def usage_summed(
    *, scope: UsageScope, group_by: Sequence[str] = (), period: str | None = None
) -> dict[Group, UsageTotals]:
    """Totals over `scope`, per group: (period start or None, *the values of `group_by`); exact, from rollups.

    Grouped by model, names that differ only as prices ignore (case, blanks) are one group, named
    as prices are keyed.
    """
    columns = [GROUPS[name] for name in group_by]
    result: dict[Group, UsageTotals] = {}
    for key, totals in _parts(scope, columns, period):
        if "model" in columns:
            index = columns.index("model") + 1
            key = (*key[:index], price_key(key[index]), *key[index + 1 :])
        result[key] = result.get(key, UsageTotals()) + totals
    return result


def usage_total(*, scope: UsageScope) -> UsageTotals:
    """One total over `scope`: e.g. an account's spend over a budget window, or a usage page's totals."""
    return usage_summed(scope=scope).get((None,), UsageTotals())
