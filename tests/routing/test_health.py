"""Deployment health on Redis and in process memory alike: failures in a window start a cooldown; capacity counts."""

import time

import pytest
from django.test import override_settings

from core.backends import redis_cache_configured
from core.providers import Target
from proxy.routed import Candidate, attempt_order
from routing.health import health_read, health_record, health_report
from routing.selectors import DeploymentSpec

LOCAL = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "health-test"}}


@pytest.fixture(params=["redis", "memory"])
def backend(request):
    if request.param == "redis":
        yield request.param
        return
    with override_settings(CACHES=LOCAL):
        assert not redis_cache_configured()  # the in-process path, as in a gateway without REDIS_URL
        yield request.param


def spec(deployment_id: str, **fields) -> DeploymentSpec:
    values = {"weight": 1, "rpm_capacity": None, "tpm_capacity": None, **fields}
    return DeploymentSpec(
        id=deployment_id,
        public_name="n",
        provider="openai",
        upstream_model=deployment_id,
        credentials="openai",
        **values,
    )


def candidate(deployment: DeploymentSpec) -> Candidate:
    target = Target(
        provider="openai", model=deployment.id, litellm_model=f"openai/{deployment.id}", api_key="k", api_base=None
    )
    return Candidate(target=target, deployment=deployment)


def test_failures_in_the_window_start_a_cooldown(backend, settings):
    settings.ROUTING_FAILURES, settings.ROUTING_COOLDOWN = 2, 30
    name = f"dep-{backend}-{time.monotonic_ns()}"
    assert health_record(deployment_id=name, failed=True, error="upstream_unavailable") is False
    assert health_read(deployment_ids=[name])[name].cooling_until == 0
    assert health_record(deployment_id=name, failed=True, error="upstream_timeout") is True
    state = health_read(deployment_ids=[name])[name]
    assert time.time() + 25 < state.cooling_until <= time.time() + 31
    report = health_report(deployment_id=name)
    assert [what for _, what in report.recent_errors] == ["upstream_timeout", "upstream_unavailable"]
    assert state.rpm_used == 2


def test_cooling_and_full_deployments_are_skipped(backend, settings):
    settings.ROUTING_FAILURES = 1
    stamp = time.monotonic_ns()
    cooling, full, healthy = spec(f"c{stamp}"), spec(f"f{stamp}", rpm_capacity=1), spec(f"h{stamp}")
    health_record(deployment_id=cooling.id, failed=True, error="upstream_unavailable")
    health_record(deployment_id=full.id, failed=False, tokens=10)
    states = health_read(deployment_ids=[cooling.id, full.id, healthy.id])
    group = [candidate(cooling), candidate(full), candidate(healthy)]
    assert [c.deployment.id for c in attempt_order([group], states, time.time())] == [healthy.id]
    # Nothing healthy at all: the name's own deployments are tried anyway, rather than refusing the call.
    assert len(attempt_order([group[:2]], states, time.time())) == 2
