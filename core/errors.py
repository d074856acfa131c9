"""One error base class, a registry of error codes, and one renderer per wire format.

Every refusal the gateway makes is a `GatewayError`; views render it in their route's
format. Messages are written by us, never copied from an exception; a provider's own message is
added only once proxy.provider_errors has made it safe (no secret, no credential, bounded).
"""

from collections.abc import Mapping
from typing import Any, ClassVar


class GatewayError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    openai_type: ClassVar[str] = "server_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_message: ClassVar[str] = "The gateway failed to handle this request."

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.headers = headers or {}
        # Fields added to the error object beside the message, for programs (e.g. a 402's `budget`).
        self.extra = dict(extra or {})
        super().__init__(self.message)

    def status(self) -> int:
        return self.status_code


class InvalidRequest(GatewayError):
    status_code = 400
    code = "invalid_request"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_message = "The request body is not valid."


class Unauthenticated(GatewayError):
    status_code = 401
    code = "invalid_api_key"
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_message = "Missing or invalid API key."


class BudgetExceeded(GatewayError):
    status_code = 402
    code = "budget_exceeded"
    openai_type = "insufficient_quota"
    anthropic_type = "billing_error"
    default_message = "The account's budget is exhausted."


class ModelNotAllowed(GatewayError):
    status_code = 403
    code = "model_not_allowed"
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    default_message = "This API key may not use this model."


class ModelNotPriced(GatewayError):
    status_code = 403
    code = "model_not_priced"
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    default_message = "This model has no price on this gateway, so accounts with a budget cannot use it."


class ModelNotFound(GatewayError):
    status_code = 404
    code = "model_not_found"
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_message = "The model does not exist or its provider is not configured."


class RouteNotFound(GatewayError):
    status_code = 404
    code = "not_found"
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_message = "There is no such route on this gateway."


class RequestTooLarge(GatewayError):
    status_code = 413
    code = "request_too_large"
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_message = "The request body is too large."


class UriTooLong(GatewayError):
    status_code = 414
    code = "uri_too_long"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_message = "The request line is too long."


class HeadersTooLarge(GatewayError):
    status_code = 431
    code = "request_header_fields_too_large"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_message = "The request's headers are too large."


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limit_exceeded"
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    default_message = "Rate limit reached for this API key."


class UpstreamError(GatewayError):
    """A provider refused the request with a 4xx; the client gets the same status."""

    code = "upstream_error"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_message = "The provider refused the request."

    _TYPES: ClassVar[dict[int, tuple[str, str]]] = {
        401: ("authentication_error", "authentication_error"),
        403: ("permission_error", "permission_error"),
        404: ("invalid_request_error", "not_found_error"),
        413: ("invalid_request_error", "request_too_large"),
        429: ("rate_limit_error", "rate_limit_error"),
    }

    def __init__(self, status_code: int, message: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)
        self.upstream_status = status_code
        self.openai_type, self.anthropic_type = self._TYPES.get(status_code, ("invalid_request_error",) * 2)  # type: ignore[misc]
        if status_code == 429:
            self.code = "rate_limit_exceeded"  # type: ignore[misc]

    def status(self) -> int:
        return self.upstream_status


class ContextWindowExceeded(UpstreamError):
    """The provider said the input is longer than the model's context window (routing may fall back)."""

    def __init__(self, status_code: int = 400, message: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(status_code, message, headers=headers)
        self.code = "context_length_exceeded"  # type: ignore[misc]


class UpstreamUnavailable(GatewayError):
    status_code = 502
    code = "upstream_unavailable"
    openai_type = "server_error"
    anthropic_type = "api_error"
    default_message = "The provider failed to answer."


class GatewayUnavailable(GatewayError):
    """The gateway itself cannot serve the call now: its ledger is unreachable, or it is shutting down."""

    status_code = 503
    code = "gateway_unavailable"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    default_message = "The gateway cannot take this request right now; retry shortly."


class UpstreamTimeout(GatewayError):
    status_code = 504
    code = "upstream_timeout"
    openai_type = "timeout"
    anthropic_type = "timeout_error"
    default_message = "The provider did not answer in time."


def render_openai(error: GatewayError) -> dict[str, Any]:
    body = {"message": error.message, "type": error.openai_type, "param": None, "code": error.code}
    return {"error": {**error.extra, **body}}


def render_anthropic(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {**error.extra, "type": error.anthropic_type, "message": error.message}}
