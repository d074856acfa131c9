"""The accounts routes: create, list, get and patch by user_id."""

from decimal import Decimal

import pytest

from accounts.models import Account


def test_it_creates_an_account(api):
    r = api.post("/api/accounts/", {"user_id": "bob", "name": "Bob", "budget_usd": "12.5"}, format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["user_id"] == "bob"
    assert body["budget_usd"] == "12.5000000000"
    assert body["spent_usd"] == "0.0000000000"
    assert body["remaining_usd"] == "12.5000000000"
    assert body["is_active"] is True
    assert Account.objects.get(user_id="bob").budget_usd == Decimal("12.5")


def test_budget_defaults_to_unlimited(api):
    body = api.post("/api/accounts/", {"user_id": "bob"}, format="json").json()
    assert body["budget_usd"] is None
    assert body["remaining_usd"] is None


def test_money_is_a_decimal_string(api):
    body = api.post("/api/accounts/", {"user_id": "bob", "budget_usd": 3}, format="json").json()
    assert body["budget_usd"] == "3.0000000000"
    assert isinstance(body["spent_usd"], str)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"user_id": "bob", "budget_usd": "-1"}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": "ten"}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": "NaN"}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": "Infinity"}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": "1.00000000001"}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": "1" * 15}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": ""}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": " "}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": True}, "budget_usd"),
        ({"user_id": "bob", "budget_usd": []}, "budget_usd"),
        ({"user_id": "bob", "email": "not-an-email"}, "email"),
        ({"user_id": "a/b"}, "user_id"),
        ({"user_id": ".."}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"name": "no user id"}, "user_id"),
        ({"user_id": "bob", "spent_usd": "0"}, "spent_usd"),
        ({"user_id": "bob", "colour": "red"}, "colour"),
    ],
)
def test_it_rejects_invalid_input(api, payload, field):
    r = api.post("/api/accounts/", payload, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not Account.objects.exists()


def test_it_rejects_a_duplicate_user_id(api, account):
    r = api.post("/api/accounts/", {"user_id": "alice"}, format="json")
    assert r.status_code == 400
    assert "already exists" in r.json()["non_field_errors"][0]


def test_it_rejects_a_body_that_is_not_an_object(api):
    assert api.post("/api/accounts/", [{"user_id": "bob"}], format="json").status_code == 400


def test_it_rejects_malformed_json(api):
    r = api.post("/api/accounts/", "{not json", content_type="application/json")
    assert r.status_code == 400


def test_it_wants_json(api):
    assert api.post("/api/accounts/", {"user_id": "bob"}).status_code == 415


def test_it_lists_accounts(api, account):
    Account.objects.create(user_id="zed", name="Zed")
    body = api.get("/api/accounts/").json()
    assert body["count"] == 2
    assert [a["user_id"] for a in body["results"]] == ["alice", "zed"]


def test_it_searches_accounts(api, account):
    Account.objects.create(user_id="zed", name="Zed")
    body = api.get("/api/accounts/", {"search": "ALI"}).json()
    assert [a["user_id"] for a in body["results"]] == ["alice"]


def test_it_paginates_accounts(api, account):
    Account.objects.create(user_id="zed")
    body = api.get("/api/accounts/", {"limit": 1, "offset": 1}).json()
    assert [a["user_id"] for a in body["results"]] == ["zed"]
    assert body["previous"] is not None


def test_a_huge_offset_is_an_empty_page(api, account):
    r = api.get("/api/accounts/", {"offset": 10**30})
    assert r.status_code == 200
    assert r.json()["results"] == []


def test_it_gets_an_account(api, account):
    body = api.get("/api/accounts/alice/").json()
    assert body["email"] == "alice@example.com"
    assert body["budget_usd"] == "10.0000000000"


def test_an_unknown_account_is_404(api):
    r = api.get("/api/accounts/nobody/")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}


def test_it_patches_an_account(api, account):
    r = api.patch("/api/accounts/alice/", {"budget_usd": "20", "is_active": False, "name": "A."}, format="json")
    assert r.status_code == 200
    account.refresh_from_db()
    assert (account.budget_usd, account.is_active, account.name) == (Decimal(20), False, "A.")


def test_patching_null_budget_makes_it_unlimited(api, account):
    r = api.patch("/api/accounts/alice/", {"budget_usd": None}, format="json")
    assert r.json()["budget_usd"] is None
    account.refresh_from_db()
    assert account.budget_usd is None


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_a_blank_budget_is_refused_not_read_as_unlimited(api, account, blank):
    r = api.patch("/api/accounts/alice/", {"budget_usd": blank}, format="json")
    assert r.status_code == 400
    assert r.json() == {"budget_usd": ["A valid number is required."]}
    account.refresh_from_db()
    assert account.budget_usd == Decimal(10)


def test_an_empty_patch_changes_nothing(api, account):
    r = api.patch("/api/accounts/alice/", {}, format="json")
    assert r.status_code == 200
    assert r.json()["budget_usd"] == "10.0000000000"


@pytest.mark.parametrize(
    "payload",
    [{"budget_usd": "-0.01"}, {"budget_usd": "1e"}, {"user_id": "bob"}, {"spent_usd": "0"}, {"is_active": "maybe"}],
)
def test_it_rejects_invalid_patches(api, account, payload):
    r = api.patch("/api/accounts/alice/", payload, format="json")
    assert r.status_code == 400
    account.refresh_from_db()
    assert account.budget_usd == Decimal(10)
    assert account.user_id == "alice"


def test_patching_an_unknown_account_is_404(api):
    assert api.patch("/api/accounts/nobody/", {"name": "x"}, format="json").status_code == 404


def test_a_nul_character_is_refused_not_a_server_error(api, account):
    assert api.get("/api/accounts/", {"search": "a\x00b"}).status_code == 400
    assert api.get("/api/accounts/a%00b/").status_code == 404
    assert api.post("/api/accounts/", {"user_id": "a\x00b"}, format="json").status_code == 400


def test_remaining_subtracts_the_holds_of_requests_in_flight(api, account):
    import uuid

    from tests.budgets.ledger_helpers import reserve

    assert reserve(account.pk, uuid.uuid4(), Decimal("2.5"))
    body = api.get(f"/api/accounts/{account.user_id}/").json()
    assert (body["spent_usd"], body["reserved_usd"], body["remaining_usd"]) == (
        "0.0000000000",
        "2.5000000000",
        "7.5000000000",
    )
