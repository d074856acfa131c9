"""Two gateway processes share deployment health through Redis: what failed on one is skipped by the other."""

import time
from pathlib import Path

import httpx
import pytest

from core.providers import provider_registry
from routing.services import deployment_create, policy_set
from tests.chaos.processes import database_url, gateway_env, gateways, spawn_gateway, wait_ready
from tests.engine import on_mongodb

pytestmark = pytest.mark.skipif(on_mongodb(), reason="MongoDB: gateway processes need the suite's SQL database")

PUBLIC = "team-model"
FLAKY, STEADY = "gpt-4o-mini", "gpt-4.1-mini"


def call(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": PUBLIC, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


def flaky_calls(upstream) -> int:
    return sum(request.body["model"] == FLAKY for request in upstream.requests)


@pytest.mark.timeout(240)
def test_a_deployment_cooling_down_on_one_process_is_skipped_by_the_other(
    transactional_db, redis_backed, upstream, customer, tmp_path: Path, settings, monkeypatch
):
    from django.db import connection

    # The flaky deployment is nearly always drawn first, so only a shared cooldown keeps process 2 off it.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-openai")  # deployments name credentials the gateway has
    provider_registry.cache_clear()
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=FLAKY, weight=1000)
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=STEADY, weight=1)
    policy_set(public_name=PUBLIC, attempts=2)
    upstream.set(model_errors={FLAKY: 500})
    env = gateway_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_backed,
        upstream_url=upstream.url,
        spool_dir=tmp_path / "spool",
    )
    with gateways() as started:
        started.extend(spawn_gateway(env=env, log=tmp_path / f"gateway-{n}.log") for n in range(2))
        first, second = (wait_ready(gateway) for gateway in started)
        while flaky_calls(upstream) < settings.ROUTING_FAILURES:  # process 1 fails on it until it cools down
            assert call(first.url, customer.key).status_code == 200
            assert flaky_calls(upstream) <= settings.ROUTING_FAILURES + 3, first.output()
        time.sleep(1)  # the last failure is recorded just after its call
        before = flaky_calls(upstream)
        answers = [call(second.url, customer.key) for _ in range(20)]
        assert [answer.status_code for answer in answers] == [200] * 20, second.output()
        assert flaky_calls(upstream) == before, second.output()
        assert {answer.json()["model"] for answer in answers} == {PUBLIC}
