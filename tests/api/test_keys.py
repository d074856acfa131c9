"""The keys routes: the raw key once on creation, never again; activation, expiry, models and limits."""

from decimal import Decimal

import pytest

from keys.models import APIKey
from keys.selectors import key_lookup
from keys.services import key_create
from pricing.services import cost_upsert

PUBLIC_FIELDS = {
    "id",
    "user_id",
    "name",
    "prefix",
    "is_active",
    "expires_at",
    "allowed_models",
    "rpm_limit",
    "tpm_limit",
    "last_used_at",
    "created_at",
}


@pytest.fixture(autouse=True)
def _priced(db) -> None:
    # An allow-list may only name models a call could use: these have prices.
    for model in ("gpt-4o", "claude-3-5-haiku"):
        cost_upsert(model=model, input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))


@pytest.fixture
def key(account) -> APIKey:
    return key_create(account=account, name="laptop").key


def test_it_creates_a_key_and_shows_the_secret_once(api, account):
    r = api.post("/api/keys/", {"user_id": "alice", "name": "ci", "allowed_models": ["gpt-4o"]}, format="json")
    assert r.status_code == 201
    body = r.json()
    assert set(body) == PUBLIC_FIELDS | {"key"}
    assert body["key"].startswith(body["prefix"])
    state = key_lookup(raw=body["key"])
    assert state is not None and str(state.id) == body["id"]
    assert body["user_id"] == "alice"
    assert body["allowed_models"] == ["gpt-4o"]

    again = api.get(f"/api/keys/{body['id']}/").json()
    assert set(again) == PUBLIC_FIELDS
    assert body["key"] not in str(api.get("/api/keys/").content)


def test_it_creates_a_key_with_limits_and_expiry(api, account):
    payload = {"user_id": "alice", "rpm_limit": 60, "tpm_limit": 10000, "expires_at": "2031-01-02T03:04:05Z"}
    body = api.post("/api/keys/", payload, format="json").json()
    assert (body["rpm_limit"], body["tpm_limit"]) == (60, 10000)
    assert body["expires_at"] == "2031-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"user_id": "nobody"}, "user_id"),
        ({}, "user_id"),
        ({"user_id": "alice", "rpm_limit": -1}, "rpm_limit"),
        ({"user_id": "alice", "tpm_limit": 2**40}, "tpm_limit"),
        ({"user_id": "alice", "allowed_models": "gpt-4o"}, "allowed_models"),
        ({"user_id": "alice", "allowed_models": [""]}, "allowed_models"),
        ({"user_id": "alice", "expires_at": "tomorrow"}, "expires_at"),
        ({"user_id": "alice", "expires_at": ""}, "expires_at"),
        ({"user_id": "alice", "rpm_limit": ""}, "rpm_limit"),
        ({"user_id": "alice", "tpm_limit": " "}, "tpm_limit"),
        ({"user_id": "alice", "rpm_limit": 1.5}, "rpm_limit"),
        ({"user_id": "alice", "rpm_limit": True}, "rpm_limit"),
        ({"user_id": "alice", "is_active": False}, "is_active"),
        ({"user_id": "alice", "key_hash": "x"}, "key_hash"),
        ({"user_id": "alice", "prefix": "gw-x"}, "prefix"),
    ],
)
def test_it_rejects_invalid_keys(api, account, payload, field):
    r = api.post("/api/keys/", payload, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not APIKey.objects.exists()


def test_it_lists_keys_without_secrets(api, key):
    body = api.get("/api/keys/").json()
    assert body["count"] == 1
    assert set(body["results"][0]) == PUBLIC_FIELDS
    assert key.key_hash not in str(body)


def test_it_lists_one_accounts_keys(api, key, db):
    other = api.post("/api/accounts/", {"user_id": "bob"}, format="json")
    assert other.status_code == 201
    api.post("/api/keys/", {"user_id": "bob"}, format="json")
    body = api.get("/api/keys/", {"user_id": "alice"}).json()
    assert [k["id"] for k in body["results"]] == [str(key.pk)]
    assert api.get("/api/keys/", {"user_id": "nobody"}).json()["count"] == 0


def test_it_gets_a_key(api, key):
    body = api.get(f"/api/keys/{key.pk}/").json()
    assert body["name"] == "laptop"
    assert body["prefix"] == key.prefix


@pytest.mark.parametrize("key_id", ["999999", "abc", "1.5", "99999999999999999999999999", "-1"])
def test_an_unknown_or_malformed_key_id_is_404(api, key, key_id):
    assert api.get(f"/api/keys/{key_id}/").status_code == 404
    assert api.patch(f"/api/keys/{key_id}/", {"name": "x"}, format="json").status_code == 404


def test_it_deactivates_and_reactivates_a_key(api, key):
    assert api.patch(f"/api/keys/{key.pk}/", {"is_active": False}, format="json").json()["is_active"] is False
    key.refresh_from_db()
    assert key.is_active is False
    assert api.patch(f"/api/keys/{key.pk}/", {"is_active": True}, format="json").json()["is_active"] is True


def test_it_changes_expiry_models_and_limits(api, key):
    payload = {
        "expires_at": "2030-06-01T00:00:00Z",
        "allowed_models": ["gpt-4o", "claude-3-5-haiku", "gpt-4o"],
        "rpm_limit": 5,
        "tpm_limit": None,
        "name": "renamed",
    }
    body = api.patch(f"/api/keys/{key.pk}/", payload, format="json").json()
    assert body["allowed_models"] == ["claude-3-5-haiku", "gpt-4o"]
    assert (body["rpm_limit"], body["tpm_limit"], body["name"]) == (5, None, "renamed")
    key.refresh_from_db()
    assert key.expires_at.year == 2030
    assert api.patch(f"/api/keys/{key.pk}/", {"expires_at": None}, format="json").json()["expires_at"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"user_id": "bob"},
        {"key": "gw-x"},
        {"rpm_limit": "many"},
        {"rpm_limit": ""},
        {"tpm_limit": " "},
        {"expires_at": ""},
        {"is_active": ""},
        {"allowed_models": [" "]},
        {"allowed_models": ""},
    ],
)
def test_it_rejects_invalid_patches(api, key, payload):
    r = api.patch(f"/api/keys/{key.pk}/", payload, format="json")
    assert r.status_code == 400
    assert set(r.json()) == set(payload)  # the field is named


def test_it_refuses_an_allow_list_naming_a_model_no_call_could_use(api, account):
    r = api.post("/api/keys/", {"user_id": "alice", "allowed_models": ["gpt-4o-mnii", "gtp-4o"]}, format="json")
    assert r.status_code == 400
    message = " ".join(r.json()["non_field_errors"])
    assert "'gpt-4o-mnii' has no price on this gateway" in message  # gpt-*: OpenAI's, but unpriced
    assert "'gtp-4o' is unknown" in message and "did you mean 'gpt-4o'?" in message
    assert not APIKey.objects.exists()


def test_a_routed_name_or_with_unpriced_models_allowed_a_detectable_one_is_accepted(api, account, settings):
    from routing.services import policy_set

    policy_set(public_name="team-model")
    r = api.post("/api/keys/", {"user_id": "alice", "allowed_models": ["team-model"]}, format="json")
    assert r.status_code == 201, r.json()
    settings.ALLOW_UNPRICED_MODELS = True
    r = api.post("/api/keys/", {"user_id": "alice", "allowed_models": ["gpt-4o-mnii"]}, format="json")
    assert r.status_code == 201, r.json()


def test_it_refuses_an_expiry_in_the_past(api, account, key):
    r = api.post("/api/keys/", {"user_id": "alice", "expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert r.status_code == 400 and "in the past" in str(r.json())
    r = api.patch(f"/api/keys/{key.pk}/", {"expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert r.status_code == 400 and "in the past" in str(r.json())
