"""Usage rollups: added in the usage rows' own transaction, rebuilt from the rows, and checked against them.

Every row is counted in four buckets (usage.models.Span): its hour, its day and its month (UTC),
with every dimension, and its day once more by account, key, model and provider only. The hour
lets a total over any since/until be exact and cheap: whole months, days and hours from rollups,
the minutes at the two edges from the rows (usage.reports); days serve the reports across
accounts (the narrow day those that need no route or status), months the long ranges. A batch of
rows (proxy.accounting) is summed in memory first and its buckets upserted in one statement (one
bulk write on MongoDB), in the transaction that inserts the rows: a replay that skips rows already
written (the spool, by request id) adds nothing for them, and a batch that fails leaves neither
rows nor sums.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncHour
from django.utils.dateparse import parse_datetime

from core.ledger_tx import _on_mongodb
from core.money import from_units, to_units
from usage.models import KEY_DAY_FOLDED, ROLLUP_DIMENSIONS, ROLLUP_SUMS, Span, UsageLog, UsageRollup

_TOKENS = ROLLUP_SUMS[1:-1]
_KEY_COLUMNS = ("span", "bucket", *ROLLUP_DIMENSIONS)
_CHUNK = 400  # rollup rows per INSERT: 15 parameters each, far below SQLite's and PostgreSQL's limits

Key = tuple[Any, ...]  # (span, bucket, account_id, api_key_id, model, provider, route, status_class)


def span_start(moment: datetime, span: str) -> datetime:
    """The start of the hour, day or month (UTC) that `moment` falls in."""
    start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if span != Span.HOUR:
        start = start.replace(hour=0)
    if span == Span.MONTH:
        start = start.replace(day=1)
    return start


def span_next(start: datetime, span: str) -> datetime:
    """The start of the next bucket after the one starting at `start`."""
    if span == Span.HOUR:
        return start + timedelta(hours=1)
    if span in (Span.DAY, Span.KEY_DAY):
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _moment(value: Any) -> datetime:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        raise ValueError(f"not a time: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Sums:
    """What one bucket adds: requests, the token kinds, cost in 1e-10 USD units."""

    values: list[int]

    @classmethod
    def zero(cls) -> "Sums":
        return cls([0] * len(ROLLUP_SUMS))

    def add(self, other: Sequence[int]) -> None:
        for index, value in enumerate(other):
            self.values[index] += value


_KEY_DAY_DIMS = tuple(KEY_DAY_FOLDED.get(name) for name in ROLLUP_DIMENSIONS)


def _dims(row: UsageLog) -> tuple[Any, ...]:
    return (row.account_id, row.api_key_id, row.model, row.provider, row.route, row.status_code // 100)


def _span_dims(span: str, dims: Sequence[Any]) -> tuple[Any, ...]:
    """The dimensions a rollup of `span` keeps: all of them, or KEY_DAY's with route and status folded."""
    if span != Span.KEY_DAY:
        return tuple(dims)
    return tuple(value if folded is None else folded for value, folded in zip(dims, _KEY_DAY_DIMS, strict=True))


def rollup_deltas(rows: Iterable[UsageLog]) -> dict[Key, Sums]:
    """The rows summed per bucket of each span: what the batch adds to the rollups."""
    deltas: dict[Key, Sums] = {}
    for row in rows:
        moment = _moment(row.created_at)
        counts = (1, *(getattr(row, name) for name in _TOKENS), to_units(row.cost_usd))
        dims = _dims(row)
        narrow = _span_dims(Span.KEY_DAY, dims)  # once per row, not once per span
        for span in Span:
            key = (span.value, span_start(moment, span), *(narrow if span == Span.KEY_DAY else dims))
            deltas.setdefault(key, Sums.zero()).add(counts)
    return deltas


def _sort_key(key: Key) -> tuple[str, ...]:
    return tuple(str(part) for part in key)


def _field(name: str) -> Any:
    return UsageRollup._meta.get_field(name)


def _prep(values: Iterable[tuple[str, Any]]) -> list[Any]:
    return [_field(name).get_db_prep_save(value, connection) for name, value in values]


def _add_sql(deltas: dict[Key, Sums]) -> None:
    table = connection.ops.quote_name(UsageRollup._meta.db_table)
    fields = [_field(name) for name in (*_KEY_COLUMNS, *ROLLUP_SUMS)]
    columns = [connection.ops.quote_name(field.column) for field in fields]
    keys = ", ".join(columns[: len(_KEY_COLUMNS)])
    # Summed into what is there: the bucket may have been made a moment ago by another instance.
    sets = ", ".join(f"{column} = {table}.{column} + EXCLUDED.{column}" for column in columns[len(_KEY_COLUMNS) :])
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # One order on every instance, so two transactions never lock the same buckets the other way round.
    ordered = sorted(deltas.items(), key=lambda item: _sort_key(item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            params: list[Any] = []
            for key, sums in chunk:
                # The sums as they are stored: integers, cost in units (MoneyField would convert USD).
                params += [*_prep(zip(_KEY_COLUMNS, key, strict=True)), *sums.values]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_sql] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets}",
                params,
            )


def _add_mongo(deltas: dict[Key, Sums]) -> None:
    from pymongo import UpdateOne

    db: Any = connection
    columns: dict[str, str] = {name: _field(name).column for name in (*_KEY_COLUMNS, *ROLLUP_SUMS)}
    writes = []
    for key, sums in sorted(deltas.items(), key=lambda item: _sort_key(item[0])):
        values = _prep(zip(_KEY_COLUMNS, key, strict=True))
        match = dict(zip((columns[name] for name in _KEY_COLUMNS), values, strict=True))
        increments = dict(zip((columns[name] for name in ROLLUP_SUMS), sums.values, strict=True))
        # An upsert on the unique index's fields: a bucket two transactions create at once is a write
        # conflict, and the ledger transaction (core.ledger_tx) runs the batch again.
        writes.append(UpdateOne(match, {"$inc": increments}, upsert=True))
    db.get_collection(UsageRollup._meta.db_table).bulk_write(writes, ordered=True, session=db.session)


def rollups_add(*, rows: Sequence[UsageLog]) -> None:
    """Adds a batch of just-inserted rows to their buckets; call it inside the rows' transaction."""
    deltas = rollup_deltas(rows)
    if deltas:
        (_add_mongo if _on_mongodb() else _add_sql)(deltas)


# Rebuilding and checking: the rows read one UTC day at a time, grouped by hour in the database.


def _hour_groups(rows: Any, start: datetime, end: datetime) -> dict[Key, Sums]:
    """The rows created in [start, end) summed per hour bucket, as rollups_add would have."""
    dims = ("account_id", "api_key_id", "model", "provider", "route", "status_code")
    groups = (
        rows.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour", *dims)
        .annotate(n=Count("id"), cost=Sum("cost_usd"), **{f"sum_{name}": Sum(name) for name in _TOKENS})
        .order_by()
    )
    result: dict[Key, Sums] = {}
    for group in groups:
        hour = span_start(_moment(group["hour"]), Span.HOUR)
        key = (Span.HOUR.value, hour, *(group[name] for name in dims[:-1]), group["status_code"] // 100)
        counts = (group["n"], *(group[f"sum_{name}"] or 0 for name in _TOKENS), to_units(group["cost"] or 0))
        result.setdefault(key, Sums.zero()).add(counts)
    return result


def _fold(groups: dict[Key, Sums], span: str) -> dict[Key, Sums]:
    folded: dict[Key, Sums] = {}
    for (_, bucket, *dims), sums in groups.items():
        folded.setdefault((span, span_start(bucket, span), *_span_dims(span, dims)), Sums.zero()).add(sums.values)
    return folded


def _days(rows: Any, since: datetime | None) -> Iterator[tuple[datetime, datetime]]:
    bounds = rows.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    if bounds["first"] is None:
        return
    day, last = span_start(max(bounds["first"], since or bounds["first"]), Span.DAY), bounds["last"]
    while day <= last:
        yield day, span_next(day, Span.DAY)
        day = span_next(day, Span.DAY)


def _scan(rows: Any = UsageLog, since: datetime | None = None) -> Iterator[dict[Key, Sums]]:
    """What the rollups should hold, a day at a time (hours and the day), each month once it is complete.

    From the day of `since` on; a month that starts before it is left out (its first days are not read).
    """
    month: dict[Key, Sums] = {}
    month_start = None
    for start, end in _days(rows, since):
        hours = _hour_groups(rows, start, end)
        if month_start is not None and span_start(start, Span.MONTH) != month_start:
            if since is None or month_start >= since:
                yield month
            month = {}
        month_start = span_start(start, Span.MONTH)
        for key, sums in _fold(hours, Span.MONTH).items():
            month.setdefault(key, Sums.zero()).add(sums.values)
        yield {**hours, **_fold(hours, Span.DAY), **_fold(hours, Span.KEY_DAY)}
    if month and (since is None or month_start is None or month_start >= since):
        yield month


def _objects(rollup: Any, groups: dict[Key, Sums]) -> list[UsageRollup]:
    objects = []
    for key, sums in groups.items():
        *counts, units = sums.values
        objects.append(
            rollup(
                **dict(zip(_KEY_COLUMNS, key, strict=True)),
                **dict(zip(ROLLUP_SUMS, counts, strict=False)),
                cost_usd=from_units(units),
            )
        )
    return objects


def rollups_rebuild(*, rows: Any = UsageLog, rollup: Any = UsageRollup) -> int:
    """Replaces every rollup with sums of the rows; returns the rollup rows written.

    For an upgrade (the migration that made rollups calls it with its historical models) or after
    rows were changed by hand. Run it with no gateway writing: a row written meanwhile into a day
    already rebuilt would be counted twice, or not at all.
    """
    rollup.objects.all().delete()
    written = 0
    for groups in _scan(rows):
        written += len(rollup.objects.bulk_create(_objects(rollup, groups), batch_size=1000))
    return written


def rollups_rebuild_migration(apps: Any, schema_editor: Any) -> None:
    """RunPython for both migration trees: the rollups of the rows an existing database already has."""
    rollups_rebuild(rows=apps.get_model("usage", "UsageLog"), rollup=apps.get_model("usage", "UsageRollup"))


def key_days_from_days(*, rollup: Any = UsageRollup) -> int:
    """Replaces the KEY_DAY rollups with the day rollups folded, a day at a time; returns the rollups written.

    For the upgrade that brought KEY_DAY (usage 0009): exact, since a day rollup already sums its
    rows, and quick, since it reads no row. Deleting first makes it safe to run twice.
    """
    rollup.objects.filter(span=Span.KEY_DAY).delete()
    kept = [name for name in ROLLUP_DIMENSIONS if name not in KEY_DAY_FOLDED]
    written = 0
    days = rollup.objects.filter(span=Span.DAY).order_by().values_list("bucket", flat=True).distinct()
    for day in sorted(set(days)):
        groups = (
            rollup.objects.filter(span=Span.DAY, bucket=day)
            .values(*kept)
            .annotate(**{f"sum_{name}": Sum(name) for name in ROLLUP_SUMS})
            .order_by()
        )
        objects = [
            rollup(
                span=Span.KEY_DAY,
                bucket=day,
                **{name: group[name] for name in kept},
                **KEY_DAY_FOLDED,
                **{name: group[f"sum_{name}"] or 0 for name in ROLLUP_SUMS},
            )
            for group in groups
        ]
        written += len(rollup.objects.bulk_create(objects, batch_size=1000))
    return written


def key_days_migration(apps: Any, schema_editor: Any) -> None:
    """RunPython for both migration trees: the KEY_DAY rollups of an existing database's day rollups."""
    key_days_from_days(rollup=apps.get_model("usage", "UsageRollup"))


def _stored(keys: Iterable[Key]) -> dict[Key, Sums]:
    keys = list(keys)
    spans = {key[0] for key in keys}
    buckets = {key[1] for key in keys}
    result: dict[Key, Sums] = {}
    if not keys:
        return result
    rows = (
        UsageRollup.objects.filter(span__in=spans, bucket__in=buckets)
        .values(*_KEY_COLUMNS)
        .annotate(**{f"sum_{name}": Sum(name) for name in ROLLUP_SUMS})
        .order_by()
    )
    for row in rows:
        key = (row["span"], _moment(row["bucket"]).astimezone(UTC), *(row[name] for name in ROLLUP_DIMENSIONS))
        values = [row[f"sum_{name}"] or 0 for name in ROLLUP_SUMS]
        values[-1] = to_units(values[-1])
        result[key] = Sums(values)
    return result


def _grand_totals(queryset: Any, count: Any) -> list[int]:
    sums = queryset.order_by().aggregate(n=count, cost=Sum("cost_usd"), **{name: Sum(name) for name in _TOKENS})
    return [sums["n"] or 0, *(sums[name] or 0 for name in _TOKENS), to_units(sums["cost"] or 0)]


def rollups_pruned() -> datetime | None:
    """The first day whose rows are all still there, if rollups count rows from before it (prune_usage ran)."""
    first = UsageLog.objects.aggregate(first=Min("created_at"))["first"]
    start = span_start(first, Span.DAY) if first is not None else None
    older = UsageRollup.objects.filter(span=Span.HOUR)
    if start is not None:
        older = older.filter(bucket__lt=start)
    if not older.exists():
        return None
    return span_next(start, Span.DAY) if start is not None else datetime.max.replace(tzinfo=UTC)


def rollups_check(*, since: datetime | None = None) -> list[str]:
    """Every bucket whose rollups differ from the sums of its rows; empty when all are equal.

    Bucket by bucket where there are rows, then each span's grand total against the rows' (which
    also catches rollups in buckets that have no rows at all). With `since` (after prune_usage, whose
    pruned rows rollups keep counting): the buckets from that day on only, and no grand totals.
    """
    differences: list[str] = []
    for expected in _scan(since=since):
        stored = _stored(expected)
        for key in sorted(set(expected) | set(stored), key=_sort_key):
            want = expected.get(key, Sums.zero()).values
            have = stored.get(key, Sums.zero()).values
            if want != have:
                differences.append(f"{_describe(key)}: rows {want}, rollups {have}")
    if since is not None:
        return differences
    rows = _grand_totals(UsageLog.objects.all(), Count("id"))
    for span in Span:
        total = _grand_totals(UsageRollup.objects.filter(span=span), Sum("requests"))
        if total != rows:
            differences.append(f"every {span.label}: rows {rows}, rollups {total}")
    return differences


def _describe(key: Key) -> str:
    span, bucket, *dims = key
    named = ", ".join(f"{name}={value}" for name, value in zip(ROLLUP_DIMENSIONS, dims, strict=True))
    return f"{Span(span).label} {bucket:%Y-%m-%d %H:00} ({named})"
