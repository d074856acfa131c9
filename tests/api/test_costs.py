"""The costs routes: create-or-update by model (201 / 200), list with search, decimal strings."""

from decimal import Decimal

import pytest

from pricing.models import ModelCost
from pricing.services import cost_upsert

NEW = {"model": "gpt-4o", "provider": "openai", "input_per_mtok": "2.5", "output_per_mtok": "10"}


@pytest.fixture
def priced(db) -> ModelCost:
    cost, _ = cost_upsert(
        model="claude-3-5-haiku",
        provider="anthropic",
        input_per_mtok=Decimal("0.8"),
        output_per_mtok=Decimal(4),
        cache_write_per_mtok=Decimal(1),
        cache_read_per_mtok=Decimal("0.08"),
    )
    return cost


def test_it_prices_a_new_model(api):
    r = api.post("/api/costs/", NEW, format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["input_per_mtok"] == "2.5000000000"
    assert body["output_per_mtok"] == "10.0000000000"
    assert body["cache_read_per_mtok"] is None
    assert body["source"] == "manual"
    assert ModelCost.objects.get(model="gpt-4o").input_per_mtok == Decimal("2.5")


def test_posting_the_same_price_again_is_200(api):
    api.post("/api/costs/", NEW, format="json")
    r = api.post("/api/costs/", NEW, format="json")
    assert r.status_code == 200
    assert ModelCost.objects.count() == 1


def test_it_updates_a_price_and_keeps_omitted_fields(api, priced):
    r = api.post("/api/costs/", {"model": "claude-3-5-haiku", "output_per_mtok": "5.0000000001"}, format="json")
    assert r.status_code == 200
    priced.refresh_from_db()
    assert priced.output_per_mtok == Decimal("5.0000000001")
    assert priced.cache_read_per_mtok == Decimal("0.08")
    assert priced.provider == "anthropic"


def test_null_clears_a_cache_price(api, priced):
    api.post("/api/costs/", {"model": "claude-3-5-haiku", "cache_read_per_mtok": None}, format="json")
    priced.refresh_from_db()
    assert priced.cache_read_per_mtok is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"input_per_mtok": "abc"}, "input_per_mtok"),
        ({"input_per_mtok": "1.2.3"}, "input_per_mtok"),
        ({"output_per_mtok": "NaN"}, "output_per_mtok"),
        ({"output_per_mtok": "-Infinity"}, "output_per_mtok"),
        ({"output_per_mtok": "-0.5"}, "output_per_mtok"),
        ({"cache_read_per_mtok": "0.00000000001"}, "cache_read_per_mtok"),
        ({"cache_read_per_mtok": ""}, "cache_read_per_mtok"),
        ({"cache_write_per_mtok": " "}, "cache_write_per_mtok"),
        ({"input_per_mtok": ""}, "input_per_mtok"),
        ({"model": ""}, "model"),
        ({"model": "   "}, "model"),
        ({"source": "litellm"}, "source"),
        ({"updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
        ({"price": "1"}, "price"),
    ],
)
def test_it_rejects_invalid_prices(api, change, field):
    r = api.post("/api/costs/", {**NEW, **change}, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not ModelCost.objects.exists()


@pytest.mark.parametrize("missing", ["input_per_mtok", "output_per_mtok"])
def test_a_new_model_needs_both_prices(api, missing):
    payload = {k: v for k, v in NEW.items() if k != missing}
    r = api.post("/api/costs/", payload, format="json")
    assert r.status_code == 400
    assert missing in r.json()


def test_it_lists_prices(api, priced):
    api.post("/api/costs/", NEW, format="json")
    body = api.get("/api/costs/").json()
    assert [c["model"] for c in body["results"]] == ["claude-3-5-haiku", "gpt-4o"]
    assert body["results"][0]["cache_read_per_mtok"] == "0.0800000000"


@pytest.mark.parametrize(("search", "models"), [("anthropic", ["claude-3-5-haiku"]), ("GPT", ["gpt-4o"]), ("x", [])])
def test_it_searches_prices(api, priced, search, models):
    api.post("/api/costs/", NEW, format="json")
    body = api.get("/api/costs/", {"search": search}).json()
    assert [c["model"] for c in body["results"]] == models


@pytest.mark.parametrize("model", ["claude-3-5-haiku", "anthropic/claude-3-5-haiku"])
def test_it_gets_one_price_even_with_a_slash_in_the_name(api, model):
    cost_upsert(model=model, input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))
    body = api.get(f"/api/costs/{model}/").json()
    assert (body["model"], body["output_per_mtok"]) == (model, "2.0000000000")


def test_it_deletes_a_price(api, priced):
    assert api.delete("/api/costs/claude-3-5-haiku/").status_code == 204
    assert not ModelCost.objects.exists()


@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unpriced_model_is_404(api, method):
    assert getattr(api, method)("/api/costs/nope/").status_code == 404


# Issue 16: the billing modes' prices, set, shown, kept by partial updates and cleared by null.
MODES = {
    "input_priority_per_mtok": "4.25",
    "output_priority_per_mtok": "17",
    "cache_read_priority_per_mtok": "2.125",
    "input_flex_per_mtok": "1.25",
    "output_flex_per_mtok": "5",
    "cache_read_flex_per_mtok": "0.625",
    "cache_write_1h_per_mtok": "5",
    "input_audio_per_mtok": "40",
    "output_audio_per_mtok": "80",
}


def test_billing_mode_prices_are_set_shown_and_kept(api, priced):
    r = api.post("/api/costs/", {"model": "claude-3-5-haiku", **MODES}, format="json")
    assert r.status_code == 200, r.json()
    assert {name: Decimal(r.json()[name]) for name in MODES} == {name: Decimal(v) for name, v in MODES.items()}
    api.post("/api/costs/", {"model": "claude-3-5-haiku", "output_per_mtok": "5"}, format="json")
    listed = api.get("/api/costs/", {"search": "claude-3-5-haiku"}).json()["results"][0]
    assert Decimal(listed["output_audio_per_mtok"]) == 80 and Decimal(listed["output_per_mtok"]) == 5
    api.post("/api/costs/", {"model": "claude-3-5-haiku", "input_priority_per_mtok": None}, format="json")
    priced.refresh_from_db()
    assert priced.input_priority_per_mtok is None and priced.cache_write_1h_per_mtok == 5


@pytest.mark.parametrize("field", list(MODES))
def test_a_negative_billing_mode_price_is_400(api, priced, field):
    r = api.post("/api/costs/", {"model": "claude-3-5-haiku", field: "-1"}, format="json")
    assert r.status_code == 400 and field in r.json()


@pytest.mark.parametrize("path", ["/api/costs/%0A/", "/api/costs/gpt%0A4o/", "/api/no-such-route/", "/api/%0A"])
@pytest.mark.parametrize("method", ["get", "delete", "post"])
def test_a_path_no_route_takes_is_a_json_404(client, path, method):
    # A line break (%0A) is matched by no route pattern (`.` stops at it): Django's HTML 404 page, found by the
    # schema fuzz, where every other /api/ 404 is DRF's JSON; for a DELETE or POST the CSRF check's HTML 403.
    client = type(client)(enforce_csrf_checks=True)
    r = getattr(client, method)(path)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}
