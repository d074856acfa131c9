"""/metrics after real calls through the gateway: every series present, with the numbers the calls produced."""

import asyncio
import timeit
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.servers import ServedGateway, gateway_env, served_gateway
from tests.proxy.helpers import set_price

MESSAGES = [{"role": "user", "content": "Say hello"}]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def client(gateway, customer):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)


def test_series_are_present_with_the_values_of_a_short_run(gateway, customer, upstream):
    set_price("gpt-4o-mini")
    sdk = client(gateway, customer)
    before = scrape(gateway.url)

    upstream.set(text="Hello", input_tokens=20, output_tokens=9, cache_read_tokens=6)
    ids = [sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES) for _ in range(2)]
    upstream.set(text="One two three", chunks=3, input_tokens=11, output_tokens=5)
    with sdk.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as streamed:
        list(streamed.iter_lines())
    upstream.set(error_status=500)
    with pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    request_ids = [raw.headers["x-request-id"] for raw in ids] + [streamed.headers["x-request-id"]]
    rows = [gateway.usage(request_id) for request_id in request_ids]
    after = scrape(gateway.url)

    route = "chat.completions"
    assert delta(before, after, "gateway_requests_total", route=route, status="200") == 3
    assert delta(before, after, "gateway_requests_total", route=route, status="502") == 1
    assert delta(before, after, "gateway_request_duration_seconds_count", route=route, provider="openai") == 4
    assert 0 < delta(before, after, "gateway_request_duration_seconds_sum", route=route, provider="openai") < 30
    assert delta(before, after, "gateway_time_to_first_token_seconds_count", route=route) == 1
    ttft = delta(before, after, "gateway_time_to_first_token_seconds_sum", route=route)
    assert 0 < ttft < 10
    # Tokens by kind are those of the usage rows written for the same calls.
    for kind, column in (("input", "input_tokens"), ("output", "output_tokens"), ("cache_read", "cache_read_tokens")):
        expected = sum(getattr(row, column) for row in rows)
        assert expected > 0 and delta(before, after, "gateway_tokens_total", model="gpt-4o-mini", kind=kind) == expected
    cost = delta(before, after, "gateway_cost_usd_total", model="gpt-4o-mini")
    assert cost == pytest.approx(float(sum((row.cost_usd for row in rows), Decimal(0))), rel=1e-9)
    errors = "gateway_provider_errors_total"
    assert delta(before, after, errors, provider="openai", kind="upstream_unavailable") == 1
    lookups = "gateway_cache_lookups_total"
    hits = sum(delta(before, after, lookups, namespace=ns, result="l1") for ns in ("key", "account", "price"))
    assert hits >= 3  # the key, its account and the price are served from memory once warm


def test_refused_calls_are_counted_but_not_as_provider_errors(gateway, customer, upstream):
    before = scrape(gateway.url)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {customer.key}"},
        json={"model": "no-such-model-xyz", "messages": MESSAGES},
        timeout=10,
    )
    assert response.status_code == 404
    gateway.drain()
    after = scrape(gateway.url)
    assert delta(before, after, "gateway_requests_total", route="chat.completions", status="404") == 1
    assert not any(
        name == "gateway_tokens_total" and ("model", "no-such-model-xyz") in labels for name, labels in after
    ), "a model name a client made up must not become a series"
    assert sum(v for (name, _), v in after.items() if name == "gateway_provider_errors_total") == sum(
        v for (name, _), v in before.items() if name == "gateway_provider_errors_total"
    )


def test_recording_a_call_costs_microseconds(gateway_server):
    from core.metrics import metrics_cache, metrics_call_finished
    from pricing.selectors import TokenCounts
    from usage.services import UsageEntry

    entry = UsageEntry(
        request_id=uuid.uuid4(),
        account_id=1,
        key_id=1,
        route="chat.completions",
        model="gpt-4o-mini",
        provider="openai",
        status_code=200,
        tokens=TokenCounts(input_tokens=10, output_tokens=5, cache_read_tokens=2),
        cost_usd=Decimal("0.0001"),
        latency_ms=120,
    )
    runs = 2000

    def record() -> None:
        metrics_call_finished(call=entry)
        metrics_cache(namespace="key", result="l1")

    seconds = min(timeit.repeat(record, number=runs, repeat=3)) / runs
    assert seconds < 100e-6, f"{seconds * 1e6:.1f} µs per call"


# --- several workers -------------------------------------------------------------------------


@pytest.fixture
def two_workers(
    customer, providers, redis_backed, tmp_path_factory: pytest.TempPathFactory, django_db_blocker
) -> Iterator[ServedGateway]:
    """`manage.py serve --workers 2` on the suite's own (test) database, Redis and upstream."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        database = f"sqlite:///{settings['NAME']}"
    elif connection.vendor == "postgresql":
        database = (
            f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@{settings['HOST'] or '127.0.0.1'}"
            f":{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    else:
        pytest.skip("the served gateway is pointed at SQL test databases only")
    env = gateway_env(
        DATABASE_URL=database,
        REDIS_URL=redis_backed,
        OPENAI_API_KEY="sk-upstream-openai",
        OPENAI_API_BASE=f"{providers.url}/v1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path_factory.mktemp("prom")),
    )
    with served_gateway(env, workers=2, log_dir=tmp_path_factory.mktemp("multi")) as gateway:
        yield gateway


def test_two_workers_report_the_same_totals_whichever_answers(two_workers, customer, upstream):
    set_price("gpt-4o-mini")
    upstream.set(input_tokens=7, output_tokens=3)
    calls = 20

    async def one() -> int:
        # A fresh connection each: the kernel hands each to whichever worker accepts first.
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                f"{two_workers.url}/v1/chat/completions",
                headers={"authorization": f"Bearer {customer.key}"},
                json={"model": "gpt-4o-mini", "messages": MESSAGES},
            )
            return response.status_code

    async def run() -> list[int]:
        return await asyncio.gather(*(one() for _ in range(calls)))

    # One fresh directory for this start, under the parent given; a counter file per worker in it.
    (metrics_dir,) = Path(two_workers.env["PROMETHEUS_MULTIPROC_DIR"]).glob("gateway-metrics-*")
    sent = 0
    for _ in range(10):  # the kernel may hand a whole round to one worker on a busy machine: send more
        assert asyncio.run(run()) == [200] * calls
        sent += calls
        pids = {path.stem.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
        if len(pids) == 2:
            break
    assert len(pids) == 2, f"both workers should have counted, saw files of {pids}"
    calls = sent
    for _ in range(6):  # whichever worker answers the scrape, the totals are those of both
        samples = scrape(two_workers.url)
        assert value(samples, "gateway_requests_total", route="chat.completions", status="200") == calls
        assert value(samples, "gateway_tokens_total", model="gpt-4o-mini", kind="input") == 7 * calls
