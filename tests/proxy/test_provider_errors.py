"""provider_said: the provider's message from each provider's error body, secrets redacted, one bounded line."""

import pytest

from proxy.provider_errors import MAX_CHARS, provider_said, sanitise

pytestmark = pytest.mark.engine_independent


@pytest.mark.parametrize(
    "answer",
    [
        b'{"error": {"message": "Bad temperature.", "type": "invalid_request_error", "code": null}}',  # OpenAI
        b'{"type": "error", "error": {"type": "invalid_request_error", "message": "Bad temperature."}}',  # Anthropic
        b'{"message": "Bad temperature."}',  # Cohere
        b'{"detail": [{"msg": "Bad temperature."}]}',  # FastAPI-style OpenAI-compatible servers
        b'[{"error": {"code": 400, "message": "Bad temperature.", "status": "INVALID_ARGUMENT"}}]',  # Gemini
        b"Bad temperature.\n",  # plain text
        {"error": "Bad temperature."},
    ],
)
def test_it_finds_the_message_in_each_providers_body(answer):
    assert provider_said(answer) == "Bad temperature."


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Incorrect API key provided: sk-proj-****************abcd.", "sk-proj"),
        ("key sk-ant-api03-AbCdEf012345 is disabled", "sk-ant"),
        ("API key AIzaSyA1234567890abcdefgh not valid", "AIzaSy"),
        ("see https://admin:s3cret@internal.example/x", "s3cret"),
        ("GET https://api.example/v1?api_key=k123456&x=1 failed", "k123456"),
        ("header was Bearer abc.def-ghi_123456", "abc.def"),
        ("gateway key gw-ABCDEFGH12345 refused", "gw-ABCDEFGH"),
    ],
)
def test_secrets_are_redacted(text, secret):
    said = sanitise(text, secrets=())
    assert secret not in said and "[redacted]" in said


def test_a_configured_secret_is_redacted_whatever_its_shape():
    assert sanitise("token plain0secret0value is wrong", secrets=["plain0secret0value"]) == "token [redacted] is wrong"


def test_the_message_is_one_bounded_line():
    said = sanitise("line one\nline two\x00\x1b[31m" + "x" * 5000, secrets=())
    assert "\n" not in said and "\x00" not in said and "\x1b" not in said
    assert len(said) == MAX_CHARS and said.endswith("…")


def test_an_answer_without_a_message_says_nothing():
    assert provider_said(b"") == provider_said({"error": {"code": 500}}) == provider_said(None) == ""
