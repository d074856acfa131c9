"""The data benchmark inside Django, on one database: seeds usage rows and rollups in bulk, then times the reads.

Run by bench/data.py (`python -m bench.data_worker seed|measure ...`, DATABASE_URL set); prints one JSON line.
Rows are made in time order, an hour at a time, with their rollups summed as they go (the same
sums `usage_rollups rebuild` makes; `--check` compares them), and written with COPY (PostgreSQL) or
executemany in one transaction (SQLite): never the ORM per row.
"""

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import django

ACCOUNTS = 200  # the company: 200 developers
KEYS_PER_ACCOUNT = 2
DAYS = 90  # rows spread over the last 90 days, whatever their number: density grows with the table
MODELS = (
    ("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3-mini", "openai"), ("gpt-5", "openai"),
    ("claude-sonnet-4-5", "anthropic"), ("claude-3-5-haiku", "anthropic"),
    ("gemini-2.0-flash", "google"), ("command-r", "cohere"),
)  # fmt: skip
ROUTES = (("chat.completions", 70), ("messages", 20), ("responses", 10))
STATUSES = ((200, 940), (429, 30), (400, 10), (502, 20))
ROW_COLUMNS = (
    "id", "account_id", "api_key_id", "route", "model", "provider", "status_code", "error_code", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "latency_ms",
    "streamed", "usage_estimated", "attempt_of", "attempt", "upstream_model", "created_at",
)  # fmt: skip


def _setup() -> None:
    django.setup()


def _people(rng: random.Random) -> list[tuple[Any, list[Any], list[tuple[str, str]], float]]:
    """Accounts with their keys, the three models each mostly uses, and a weight (some are busier)."""
    from accounts.models import Account
    from keys.models import APIKey

    Account.objects.bulk_create([Account(user_id=f"dev-{n:04d}", name=f"Developer {n}") for n in range(ACCOUNTS)])
    accounts = list(Account.objects.order_by("user_id"))
    APIKey.objects.bulk_create(
        APIKey(account=account, name=f"key {k}", prefix=f"gw-{account.pk:04d}{k}", key_hash=uuid.uuid4().hex)
        for account in accounts
        for k in range(KEYS_PER_ACCOUNT)
    )
    keys: dict[Any, list[Any]] = {}
    for key_id, account_id in APIKey.objects.values_list("pk", "account_id"):
        keys.setdefault(account_id, []).append(key_id)
    return [(account.pk, keys[account.pk], rng.sample(MODELS, 3), rng.paretovariate(1.5)) for account in accounts]


def _hours(rows: int) -> Iterator[tuple[datetime, int]]:
    """(hour, rows in it) over DAYS days to the current hour, busier in working hours."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in range(DAYS * 24 - 1, -1, -1)]
    weights = [3.0 if 8 <= hour.hour < 18 else 1.0 for hour in hours]
    scale = rows / sum(weights)
    made, owed = 0, 0.0
    for hour, weight in zip(hours, weights, strict=True):
        owed += weight * scale
        count = min(int(owed) - made, rows - made) if hour != hours[-1] else rows - made
        made += count
        yield hour, count


class Format:
    """Values as the engine stores them (Django's own formats), so rows are written without conversion."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.zone = "+00" if postgres else ""
        self.true: Any = "t" if postgres else 1
        self.false: Any = "f" if postgres else 0
        self.null = None

    def moment(self, value: datetime) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S") + self.zone

    def moment_in(self, hour: str, seconds: float) -> str:
        # Django writes datetimes as str(naive UTC): microseconds always present here (a random offset).
        whole = int(seconds)
        return f"{hour[:14]}{whole // 60:02d}:{whole % 60:02d}.{int((seconds - whole) * 1e6):06d}{self.zone}"


def _generate(rows: int, fmt: Format, seed: int = 7) -> Iterator[tuple[datetime, list[tuple[Any, ...]]]]:
    """(hour, its rows) in time order; a row's values as `fmt` stores them."""
    rng = random.Random(seed)
    people = _people(rng)
    weights = [person[3] for person in people]
    routes, route_w = [r for r, _ in ROUTES], [w for _, w in ROUTES]
    statuses, status_w = [s for s, _ in STATUSES], [w for _, w in STATUSES]
    for hour, count in _hours(rows):
        stamp = fmt.moment(hour)
        offsets = sorted(rng.random() * 3600 for _ in range(count))
        batch = []
        chosen = rng.choices(people, weights=weights, k=count)
        for (account, keys, models, _), route, status, offset in zip(
            chosen,
            rng.choices(routes, route_w, k=count),
            rng.choices(statuses, status_w, k=count),
            offsets,
            strict=True,
        ):
            model, provider = models[0] if rng.random() < 0.6 else models[rng.randrange(3)]
            ok = status == 200
            tokens_in, tokens_out = (rng.randrange(50, 4000), rng.randrange(10, 1200)) if ok else (0, 0)
            cache = rng.randrange(0, 2000) if ok and rng.random() < 0.3 else 0
            cost = (tokens_in * 25 + tokens_out * 100 + cache * 3) * 1000  # 1e-10 USD units
            batch.append((
                f"{rng.getrandbits(128):032x}", account, keys[rng.randrange(2)], route, model, provider, status,
                "" if ok else "upstream", tokens_in, tokens_out, cache, 0,
                tokens_out // 10 if model[0] == "o" else 0, cost, rng.randrange(200, 4000),
                fmt.true if rng.random() < 0.4 else fmt.false, fmt.false, fmt.null, 1, "", fmt.moment_in(stamp, offset),
            ))  # fmt: skip
        yield hour, batch


def _add(sums: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], counts: list[int] | tuple[int, ...]) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = list(counts)
    else:
        for index, value in enumerate(counts):
            found[index] += value


def _hour_sums(batch: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[int]]:
    """The hour's rows summed per (account, key, model, provider, route, status class)."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in batch:
        _add(sums, (row[1], row[2], row[4], row[5], row[3], row[6] // 100), (1, *row[8:14]))
    return sums


ROLLUP_COLUMNS = (
    "span", "bucket", "account_id", "api_key_id", "model", "provider", "route", "status_class", "requests",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
)  # fmt: skip


class Writer:
    """Bulk writes on the raw connection: COPY (text) on PostgreSQL, executemany on SQLite."""

    def __init__(self) -> None:
        from django.db import connection

        connection.ensure_connection()
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        with self.connection.cursor() as cursor:
            if self.postgres:
                # Our own values (no tab, newline or backslash in any of them): COPY's text format as is.
                text = "".join("\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows)
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    copy.write(text.encode())
                return
            marks = ", ".join(["?"] * len(columns))
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - our own names
            cursor.cursor.executemany(sql, rows)  # the sqlite3 cursor: Django's wrapper rewrites %s per row


def seed(rows: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from usage.models import Span
    from usage.rollups import span_start

    started = time.monotonic()
    writer = Writer()
    fmt = Format(writer.postgres)
    days: dict[tuple[Any, ...], list[int]] = {}
    months: dict[tuple[Any, ...], list[int]] = {}
    written = rollups = 0
    if connection.vendor == "sqlite":
        connection.cursor().execute("PRAGMA synchronous=OFF")
        connection.cursor().execute("PRAGMA cache_size=-1000000")  # 1 GB while seeding: the indexes stay in memory
    with transaction.atomic():
        for hour, batch in _generate(rows, fmt):
            writer.write("usage_usagelog", ROW_COLUMNS, batch)
            sums = _hour_sums(batch)
            day, month = fmt.moment(span_start(hour, Span.DAY)), fmt.moment(span_start(hour, Span.MONTH))
            for dims, counts in sums.items():
                _add(days, (Span.DAY.value, day, *dims), counts)
                _add(days, (Span.KEY_DAY.value, day, *dims[:4], "", 0), counts)  # route and status folded
                _add(months, (Span.MONTH.value, month, *dims), counts)
            stamp = fmt.moment(hour)
            writer.write("usage_usagerollup", ROLLUP_COLUMNS, [("h", stamp, *d, *c) for d, c in sums.items()])
            written += len(batch)
            rollups += len(sums)
            if hour.hour == 23:  # a day is complete: its rollups go, so memory stays one day's worth
                writer.write("usage_usagerollup", ROLLUP_COLUMNS, [(*k, *c) for k, c in days.items()])
                rollups, days = rollups + len(days), {}
        final = [*days.items(), *months.items()]
        writer.write("usage_usagerollup", ROLLUP_COLUMNS, [(*key, *counts) for key, counts in final])
        rollups += len(final)
    seeded = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "rows": written,
        "rollups": rollups,
        "seed_s": round(seeded, 1),
        "analyze_s": round(time.monotonic() - started - seeded, 1),
    }


def _timed(run: Callable[[], Any], repeat: int) -> dict[str, float]:
    for _ in range(2):
        run()  # warm: caches, connections, templates
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "max_ms": round(times[-1], 1),
    }


def _get(client: Any, url: str, params: dict[str, Any] | None = None) -> Callable[[], Any]:
    def run() -> None:
        response = client.get(url, params or {})
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        if hasattr(response, "render") and not response.is_rendered:
            response.render()

    return run


def measure(repeat: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db.models import Sum
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Account
    from usage.models import Span, UsageRollup
    from usage.reports import UsageScope, usage_total

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@example.com", "x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    busiest = (
        UsageRollup.objects.filter(span=Span.MONTH).values("account_id").annotate(n=Sum("requests")).order_by("-n")
    ).first()
    account = Account.objects.get(pk=busiest["account_id"] if busiest else Account.objects.values("pk")[0]["pk"])
    now = timezone.now()
    week = {"since": (now - timedelta(days=7, minutes=13)).isoformat(), "model": "gpt-4o"}
    reads = {
        "admin usage list, first page": _get(client, "/admin/usage/usagelog/"),
        "admin usage list, one model": _get(client, "/admin/usage/usagelog/", {"model": "gpt-4o"}),
        "admin account page": _get(client, f"/admin/accounts/account/{account.pk}/change/"),
        "usage API, one account (list + totals)": _get(client, f"/api/usage/user/{account.user_id}/"),
        "usage API, all accounts, 7 days of one model (list + totals)": _get(client, "/api/usage/", week),
        "spend report, 30 days by account and model": _get(
            client, "/api/reports/spend/", {"group_by": "account,model"}
        ),
        "budget-window check (30 days, one account)": lambda: usage_total(
            scope=UsageScope(account_id=account.pk, since=timezone.now() - timedelta(days=30))
        ),
    }
    return {name: _timed(run, repeat) for name, run in reads.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("seed", "measure", "check"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    _setup()
    if args.action == "seed":
        result: Any = seed(args.rows)
    elif args.action == "measure":
        result = measure(args.repeat)
    else:
        from usage.rollups import rollups_check

        started = time.monotonic()
        differences = rollups_check()
        result = {
            "differences": len(differences),
            "first": differences[:3],
            "check_s": round(time.monotonic() - started, 1),
        }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
