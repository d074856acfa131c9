"""Deployments and policies through the REST API and the admin (the same services), health shown to operators."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.providers import provider_registry
from routing.health import health_record
from routing.models import Deployment, RoutePolicy
from routing.selectors import routing_table
from routing.services import deployment_create

ADMIN_TOKEN = "test-admin-token-routing"


@pytest.fixture(autouse=True)
def _openai_configured(monkeypatch):
    # Deployments may only name credentials the gateway has.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-routing")
    provider_registry.cache_clear()
    yield
    provider_registry.cache_clear()


@pytest.fixture
def api(db, settings) -> APIClient:
    settings.ADMIN_API_KEY = ADMIN_TOKEN
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    return client


def test_the_api_creates_lists_updates_and_deletes_deployments(api):
    created = api.post(
        "/api/routing/deployments/",
        {"public_name": "team-model", "provider": "openai", "upstream_model": "gpt-4o-mini", "weight": 3},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["credentials"] == "openai" and body["health"] == {
        "configured": True,
        "cooling_until": None,
        "recent_errors": [],
    }
    listed = api.get("/api/routing/deployments/?public_name=team-model").json()
    assert [item["upstream_model"] for item in listed["results"]] == ["gpt-4o-mini"]
    path = f"/api/routing/deployments/{body['id']}/"
    assert api.patch(path, {"weight": 5, "enabled": False}, format="json").json()["weight"] == 5
    assert routing_table() == {}  # disabled: the name is auto-detected again, and the cached table knows it
    assert api.delete(path).status_code == 204
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"public_name": "x", "provider": "nope", "upstream_model": "m"},
        {"public_name": "x", "provider": "openai", "upstream_model": "openai/gpt-4o"},
        {"public_name": "x", "provider": "openai", "upstream_model": "gpt-4o", "weight": 0},
        {"public_name": "x", "provider": "openai", "upstream_model": "gpt-4o", "api_key": "sk-secret"},
    ],
    ids=["provider", "prefixed-model", "weight", "no-secrets"],
)
def test_the_api_refuses_bad_deployments_with_400(api, body):
    answer = api.post("/api/routing/deployments/", body, format="json")
    assert answer.status_code == 400 and not Deployment.objects.exists()


def test_the_api_sets_policies_by_public_name(api):
    first = api.post("/api/routing/policies/", {"public_name": "team-model", "fallbacks": ["gpt-4o"]}, format="json")
    assert first.status_code == 201 and first.json()["attempts"] == 3
    second = api.post("/api/routing/policies/", {"public_name": "team-model", "attempts": 5}, format="json")
    assert second.status_code == 200 and second.json()["fallbacks"] == ["gpt-4o"] and second.json()["attempts"] == 5
    itself = api.post("/api/routing/policies/", {"public_name": "a", "fallbacks": ["a"]}, format="json")
    assert itself.status_code == 400
    assert routing_table()["team-model"].fallbacks == ("gpt-4o",)
    assert api.get("/api/routing/policies/team-model/").json()["attempts"] == 5
    assert api.delete("/api/routing/policies/team-model/").status_code == 204
    assert not RoutePolicy.objects.exists()


def test_the_api_needs_the_admin_token(db, settings):
    settings.ADMIN_API_KEY = ADMIN_TOKEN
    assert APIClient().get("/api/routing/deployments/").status_code == 401


def test_the_admin_shows_cooldown_and_recent_errors(admin_client, settings):
    deployment = deployment_create(public_name="team-model", provider="openai", upstream_model="gpt-4o-mini")
    for _ in range(settings.ROUTING_FAILURES):
        health_record(deployment_id=str(deployment.pk), failed=True, error="upstream_unavailable")
    listing = admin_client.get(reverse("admin:routing_deployment_changelist")).content.decode()
    assert "cooling until" in listing and "upstream_unavailable" in listing
    page = admin_client.get(reverse("admin:routing_deployment_change", args=[deployment.pk])).content.decode()
    assert "Cooling down until" in page and page.count("upstream_unavailable") >= settings.ROUTING_FAILURES


def test_the_admin_saves_through_the_services(admin_client):
    answer = admin_client.post(
        reverse("admin:routing_deployment_add"),
        {"public_name": "team-model", "provider": "openai", "upstream_model": "openai/gpt-4o", "weight": 1},
    )
    assert answer.status_code == 200 and not Deployment.objects.exists()  # the service's refusal, on the form
    assert "without a provider prefix" in answer.content.decode()
    answer = admin_client.post(
        reverse("admin:routing_routepolicy_add"),
        {"public_name": "team-model", "attempts": 2, "deadline_s": 30, "fallbacks": "gpt-4o, claude-haiku-4-5"},
    )
    assert answer.status_code == 302
    assert RoutePolicy.objects.get().fallbacks == ["gpt-4o", "claude-haiku-4-5"]


def test_a_deployment_naming_credentials_the_gateway_lacks_is_refused(api):
    body = {"public_name": "team-model", "provider": "openai", "upstream_model": "gpt-4o-mini", "credentials": "opneai"}
    answer = api.post("/api/routing/deployments/", body, format="json")
    assert answer.status_code == 400
    assert "'opneai' names no configured provider (configured: openai)" in str(answer.json())
    assert not Deployment.objects.exists()


def test_a_deployment_whose_credentials_went_away_is_shown_as_not_configured(api, admin_client, monkeypatch):
    deployment = deployment_create(public_name="team-model", provider="openai", upstream_model="gpt-4o-mini")
    monkeypatch.delenv("OPENAI_API_KEY")
    provider_registry.cache_clear()
    listing = admin_client.get(reverse("admin:routing_deployment_changelist")).content.decode()
    assert "not configured" in listing and "healthy" not in listing
    assert api.get(f"/api/routing/deployments/{deployment.pk}/").json()["health"]["configured"] is False
    # It can still be switched off (its credentials do not change).
    assert api.patch(f"/api/routing/deployments/{deployment.pk}/", {"enabled": False}, format="json").status_code == 200
