"""Prometheus metrics: the series the pipeline feeds, and the `/metrics` view that exposes them.

Several worker processes each count on their own; with PROMETHEUS_MULTIPROC_DIR set
(`manage.py serve` sets a fresh one per start) prometheus-client keeps every process's
values in an mmap'ed file there and `/metrics` adds them up, whichever worker answers.
Recording a value is a dict look-up and a float add (plus an mmap write in multiprocess
mode): no I/O, no lock shared between threads that matters on one event loop.
"""

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.calls import CallFacts
from core.pool import in_pool

# LLM calls take from tens of milliseconds to minutes.
_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
# Error codes that mean the provider failed or refused (core.errors), as opposed to our own refusals.
PROVIDER_ERROR_KINDS = frozenset({"upstream_error", "upstream_unavailable", "upstream_timeout", "rate_limit_exceeded"})
_LABEL_CACHE = 4096  # bounded: label values come from a fixed set (routes, statuses, priced models)


@dataclass(frozen=True)
class _Series:
    requests: Counter
    latency: Histogram
    ttft: Histogram
    tokens: Counter
    cost: Counter
    provider_errors: Counter
    cache: Counter


def multiprocess_dir() -> str | None:
    """Where this process's values live on disk, or None when they live in its memory.

    prometheus-client picks the mode once, when it is imported, from PROMETHEUS_MULTIPROC_DIR.
    `manage.py serve` sets the variable after Django (and so this module) is loaded: its worker
    processes start fresh and count on disk, while a single in-process worker counts in memory.
    Both expose correct totals; the mode actually in force decides how they are read.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@functools.cache
def registry() -> CollectorRegistry:
    """The registry our series live in (not the library's global one, so tests and imports never clash)."""
    return CollectorRegistry(auto_describe=True)


@functools.cache
def _series() -> _Series:
    r = registry()
    return _Series(
        requests=Counter("gateway_requests", "Proxied calls by route and status.", ["route", "status"], registry=r),
        latency=Histogram(
            "gateway_request_duration_seconds",
            "Time from request to the call's end (the last frame, for streams), by route and provider.",
            ["route", "provider"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        ),
        ttft=Histogram(
            "gateway_time_to_first_token_seconds",
            "Streams: time from request to the first frame queued for the client, by route.",
            ["route"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        ),
        tokens=Counter(
            "gateway_tokens", "Tokens by model and kind (input is uncached input).", ["model", "kind"], registry=r
        ),
        cost=Counter("gateway_cost_usd", "Cost charged to accounts, USD, by model.", ["model"], registry=r),
        provider_errors=Counter(
            "gateway_provider_errors", "Provider failures by provider and kind.", ["provider", "kind"], registry=r
        ),
        cache=Counter(
            "gateway_cache_lookups",
            "Cache look-ups by namespace and result (l1, l2 or miss); hit ratio = 1 - miss / all.",
            ["namespace", "result"],
            registry=r,
        ),
    )


# Children by label values, so the hot path skips prometheus-client's label validation and its lock.
@functools.lru_cache(maxsize=_LABEL_CACHE)
def _requests(route: str, status: int) -> Any:
    return _series().requests.labels(route, str(status))


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _latency(route: str, provider: str) -> Any:
    return _series().latency.labels(route, provider)


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _ttft(route: str) -> Any:
    return _series().ttft.labels(route)


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _tokens(model: str, kind: str) -> Any:
    return _series().tokens.labels(model, kind)


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _cost(model: str) -> Any:
    return _series().cost.labels(model)


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _provider_error(provider: str, kind: str) -> Any:
    return _series().provider_errors.labels(provider, kind)


@functools.lru_cache(maxsize=_LABEL_CACHE)
def _cache(namespace: str, result: str) -> Any:
    return _series().cache.labels(namespace, result)


def metrics_call_finished(*, call: CallFacts) -> None:
    """Counts one finished call: status, latency, tokens and cost by model, provider errors."""
    _requests(call.route, call.status_code).inc()
    _latency(call.route, call.provider or "none").observe(call.latency_ms / 1000)
    if call.error_code in PROVIDER_ERROR_KINDS and call.provider:
        _provider_error(call.provider, call.error_code).inc()
    tokens = call.tokens
    # Only a provider's answer carries usage, so only models that exist get a `model` label:
    # the name a client sends is unbounded and must never become a series by itself.
    counts = (
        ("input", tokens.input_tokens),
        ("output", tokens.output_tokens),
        ("cache_read", tokens.cache_read_tokens),
        ("cache_write", tokens.cache_write_tokens),
        ("reasoning", call.reasoning_tokens),
    )
    for kind, count in counts:
        if count:
            _tokens(call.model, kind).inc(count)
    if call.cost_usd:
        # A float is fine here: the bill of record is the usage row's exact Decimal.
        _cost(call.model).inc(float(call.cost_usd))


class _FirstFrameTimer:
    """Observes the time to the first frame once; later calls cost one attribute test."""

    __slots__ = ("child", "started")

    def __init__(self, child: Any, started: float) -> None:
        self.child: Any = child
        self.started = started

    def __call__(self) -> None:
        if self.child is not None:
            self.child.observe(time.perf_counter() - self.started)
            self.child = None


def metrics_first_frame_timer(*, route: str, started: float) -> Callable[[], None]:
    """Time to first token of a stream: call the result each time a frame is queued for the client.

    `started` is the request's `time.perf_counter()` at arrival.
    """
    return _FirstFrameTimer(_ttft(route), started)


def metrics_cache(*, namespace: str, result: str) -> None:
    """One cache look-up: `result` is "l1", "l2" (hits), "miss", or "stale" (an expired copy, the database away)."""
    _cache(namespace, result).inc()


def _exposition(extra: Sequence[Any]) -> bytes:
    if path := multiprocess_dir():
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected, path=path)
        body = generate_latest(collected)
    else:
        _series()  # declared even before the first call, so scrapers see every series' HELP from the start
        body = generate_latest(registry())
    if extra:  # read at scrape time by the app that owns them (e.g. budgets' gauges from the database)
        scraped = CollectorRegistry(auto_describe=False)
        for collector in extra:
            scraped.register(collector)
        body += generate_latest(scraped)
    return body


async def metrics_view(request: HttpRequest, *, extra: Sequence[Any] = ()) -> HttpResponse:
    """The Prometheus scrape: this instance's workers' series, then the `extra` collectors' (prometheus_client's
    Collector interface), which the project's URLs pass in so that core names no app."""
    # Reading the files is cheap (a few KB per worker) but it is I/O: keep it off the event loop.
    body = await in_pool(_exposition, extra)  # the pool's threads give back any database connection they used
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
