"""A spray of bad keys does not write a log line per request (Django logs every 4xx as a WARNING)."""

import logging

import httpx

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_bad_keys_on_the_proxy_log_no_warning(gateway, caplog):
    caplog.set_level(logging.INFO)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for n in range(20):
            response = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer gw-bad-{n}"})
            assert response.status_code == 401
        assert client.post("/v1/messages", json=BODY, headers={"x-api-key": "gw-bad"}).status_code == 401
        assert client.get("/v1/models").status_code == 401
        assert client.post("/v1/embeddings", json={}).status_code == 404
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_bad_admin_tokens_on_the_api_log_no_warning(gateway, caplog, settings):
    settings.ADMIN_API_KEY = "the-admin-token"
    caplog.set_level(logging.INFO)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for n in range(20):
            response = client.get("/api/accounts/", headers={"Authorization": f"Bearer bad-{n}"})
            assert response.status_code == 401
        assert client.get("/admin/no-such-page/").status_code in (302, 404)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
