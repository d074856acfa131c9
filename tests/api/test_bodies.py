"""Bodies the management API cannot use are 400s in its JSON error format, never an HTML 500."""

import httpx
import pytest

from tests.api.conftest import ADMIN_TOKEN

ROUTES = ["/api/accounts/", "/api/keys/", "/api/costs/"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_a_deeply_nested_body_is_a_json_400(api, path, body):
    response = api.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "nested deeper than" in response.json()["detail"]


def test_a_deeply_nested_body_is_a_json_400_on_the_served_gateway(gateway, settings):
    settings.ADMIN_API_KEY = ADMIN_TOKEN
    response = httpx.post(
        f"{gateway.url}/api/accounts/",
        content=b"[" * 100_000,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_a_body_of_ordinary_depth_still_works(api):
    response = api.post("/api/accounts/", {"user_id": "bob", "name": "Bob"}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("body", [b"null", b"42", b'"text"'])
def test_a_body_that_is_not_an_object_is_a_400(api, account, body):
    response = api.patch(f"/api/accounts/{account.user_id}/", data=body, content_type="application/json")
    assert response.status_code == 400
