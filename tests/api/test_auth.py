"""Who may call /api/: the admin bearer token or a staff session; everyone else gets 401 (or 403)."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from keys.services import key_create

from .conftest import ADMIN_TOKEN

ROUTES = [
    ("get", "/api/"),
    ("get", "/api/accounts/"),
    ("post", "/api/accounts/"),
    ("get", "/api/accounts/alice/"),
    ("patch", "/api/accounts/alice/"),
    ("get", "/api/keys/"),
    ("post", "/api/keys/"),
    ("get", "/api/keys/1/"),
    ("patch", "/api/keys/1/"),
    ("get", "/api/costs/"),
    ("post", "/api/costs/"),
    ("get", "/api/costs/gpt-4o/"),
    ("delete", "/api/costs/gpt-4o/"),
    ("get", "/api/usage/user/alice/"),
    ("get", "/api/providers/"),
    ("get", "/api/alerts/events/"),
    ("get", "/api/alerts/destinations/"),
    ("post", "/api/alerts/destinations/"),
    ("patch", "/api/alerts/destinations/1/"),
    ("delete", "/api/alerts/destinations/1/"),
    ("get", "/api/alerts/deliveries/"),
    ("post", "/api/alerts/deliveries/1/retry/"),
    ("get", "/api/schema/"),
    ("get", "/api/docs/"),
]


def _call(client, method, url):
    return getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)


def _assert_401(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_no_credentials_is_401(anon, account, method, url):
    _assert_401(_call(anon, method, url))


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_wrong_token_is_401(anon, account, method, url):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}x")
    _assert_401(_call(anon, method, url))


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_gateway_api_key_is_401(anon, account, method, url):
    raw = key_create(account=account).raw
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_API_KEY=raw)
    _assert_401(_call(anon, method, url))


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_the_admin_token_is_accepted(api, account, method, url):
    assert _call(api, method, url).status_code not in (401, 403)


@pytest.mark.parametrize(
    "header", ["Bearer", f"Bearer {ADMIN_TOKEN} extra", f"Token {ADMIN_TOKEN}", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN]
)
def test_a_malformed_authorization_header_is_401(anon, header):
    anon.credentials(HTTP_AUTHORIZATION=header)
    _assert_401(anon.get("/api/accounts/"))


def test_the_scheme_is_case_insensitive(anon, db):
    anon.credentials(HTTP_AUTHORIZATION=f"bearer {ADMIN_TOKEN}")
    assert anon.get("/api/accounts/").status_code == 200


@pytest.mark.parametrize("configured", ["", None])
def test_without_an_admin_key_the_token_route_is_closed(anon, settings, configured):
    settings.ADMIN_API_KEY = configured
    for token in ("", "None", ADMIN_TOKEN):
        anon.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        _assert_401(anon.get("/api/accounts/"))


@pytest.fixture
def staff(db):
    user = User.objects.create_user("ops", password="pw-ops-123", is_staff=True)
    # A session carries its operator's permissions, as a token does (tests/api/test_operator_tokens.py).
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_account", "add_account", "change_account"])
    )
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_staff_session_can_read(staff, account):
    assert staff.get("/api/accounts/alice/").json()["user_id"] == "alice"


def test_a_staff_session_gets_the_browsable_api(staff, account):
    r = staff.get("/api/accounts/", HTTP_ACCEPT="text/html")
    assert r.status_code == 200
    assert b"alice" in r.content


def test_a_staff_session_must_send_the_csrf_token_to_write(staff, db):
    r = staff.post("/api/accounts/", {"user_id": "bob"}, format="json")
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]


def test_a_staff_session_can_write_with_the_csrf_token(staff, db):
    staff.get("/api/accounts/", HTTP_ACCEPT="text/html")  # sets the csrftoken cookie
    token = staff.cookies["csrftoken"].value
    r = staff.post("/api/accounts/", {"user_id": "bob"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 201


def test_a_non_staff_session_is_403(db, account):
    client = APIClient()
    client.force_login(User.objects.create_user("user", password="pw-user-123"))
    assert client.get("/api/accounts/").status_code == 403


def test_an_inactive_staff_session_is_refused(db):
    user = User.objects.create_user("gone", password="pw-gone-123", is_staff=True)
    client = APIClient()
    client.force_login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/accounts/").status_code in (401, 403)


def test_the_schema_is_openapi_3(api):
    r = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/accounts/", "/api/keys/{key_id}/", "/api/usage/user/{user_id}/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An operator's personal token (gwop-…), or the gateway's ADMIN_API_KEY.",
    }


def test_the_root_lists_the_routes(api):
    body = api.get("/api/").json()
    assert body["accounts"].endswith("/api/accounts/")
    assert body["schema"].endswith("/api/schema/")
    assert body["docs"].endswith("/api/docs/")


def test_the_docs_serve_swagger_ui_from_this_server(api):
    page = api.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "/api/schema/" in page
    assert "cdn" not in page.lower()  # assets come from drf-spectacular-sidecar, not the internet
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page


def test_swagger_ui_assets_are_served_locally(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200
