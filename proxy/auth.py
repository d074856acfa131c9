"""Gateway API key authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`."""

from dataclasses import dataclass

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.selectors import AccountState, account_state
from gateway_project.errors import Unauthenticated
from keys.selectors import KeyState, key_lookup

# A key is "gw-" plus 43 characters; anything far longer is refused before hashing.
_MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a proxy route: a usable key and its active account."""

    key: KeyState
    account: AccountState

    # DRF asks these of `request.user`.
    is_authenticated = True
    is_active = True


def presented_key(request: HttpRequest) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


def principal_for(raw: str | None) -> Principal:
    """Resolves a presented key, or raises Unauthenticated. Sync: cache first, database on a miss."""
    if not raw:
        raise Unauthenticated("Missing API key. Send `Authorization: Bearer <key>` or `x-api-key: <key>`.")
    key = key_lookup(raw=raw) if len(raw) <= _MAX_KEY_LENGTH else None
    if key is None:
        raise Unauthenticated("Invalid API key.")
    if not key.is_active:
        raise Unauthenticated("This API key has been revoked.")
    if not key.is_usable:
        raise Unauthenticated("This API key has expired.")
    account = account_state(account_id=key.account_id)
    if account is None or not account.is_active:
        raise Unauthenticated("The account of this API key is inactive.")
    return Principal(key=key, account=account)


class GatewayKeyAuthentication(BaseAuthentication):
    """DRF authentication for the proxy routes; failures surface as our own `Unauthenticated`."""

    def authenticate(self, request: Request) -> tuple[Principal, None]:
        return principal_for(presented_key(request._request)), None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'
