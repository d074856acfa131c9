"""Gateway API key authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`."""

from dataclasses import dataclass

from django.db import DatabaseError
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.selectors import AccountState, account_state
from accounts.services import ACCOUNT_CACHE
from core.cache import MISSING, cache_peek
from core.errors import GatewayUnavailable, Unauthenticated
from core.pool import in_pool
from keys.selectors import KeyState, key_lookup
from keys.services import KEY_CACHE, key_hash

# A key is "gw-" plus 43 characters; anything far longer is refused before hashing.
_MAX_KEY_LENGTH = 256
# Where the async pre-check leaves its answer for the DRF authentication class.
PRINCIPAL_ATTR = "gateway_principal"


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


def _checked(key: KeyState | None, account: AccountState | None) -> Principal:
    if key is None:
        raise Unauthenticated("Invalid API key.")
    if not key.is_active:
        raise Unauthenticated("This API key has been revoked.")
    if not key.is_usable:
        raise Unauthenticated("This API key has expired.")
    if account is None or not account.is_active:
        raise Unauthenticated("The account of this API key is inactive.")
    return Principal(key=key, account=account)


def _require(raw: str | None) -> str:
    if not raw:
        raise Unauthenticated("Missing API key. Send `Authorization: Bearer <key>` or `x-api-key: <key>`.")
    if len(raw) > _MAX_KEY_LENGTH:
        raise Unauthenticated("Invalid API key.")
    return raw


def principal_for(raw: str | None) -> Principal:
    """Resolves a presented key, or raises Unauthenticated. Sync: cache first, database on a miss."""
    raw = _require(raw)
    try:
        key = key_lookup(raw=raw)
        account = account_state(account_id=key.account_id) if key else None
    except DatabaseError:
        # A key not cached while the database is away: the caller may retry, it is not a bug of ours (500).
        raise GatewayUnavailable("The gateway cannot check this API key right now; retry shortly.") from None
    return _checked(key, account)


async def principal_for_async(raw: str | None) -> Principal:
    """The same answer; with both entries warm in process memory it never leaves the event loop."""
    key = cache_peek(KEY_CACHE, key_hash(_require(raw)))
    if key is not MISSING:
        account = cache_peek(ACCOUNT_CACHE, key.account_id) if key else None
        if account is not MISSING:
            return _checked(key, account)
    # A miss: one hop to the shared pool (not a new thread per request) for cache and database.
    try:
        return await in_pool(principal_for, raw)
    except DatabaseError:
        # Not the caller's fault: a cold key cannot be checked while the database is down.
        raise GatewayUnavailable("The gateway cannot check this API key right now; retry shortly.") from None


class GatewayKeyAuthentication(BaseAuthentication):
    """DRF authentication for the proxy routes; failures surface as our own `Unauthenticated`.

    The proxy views resolve the key asynchronously first (`principal_for_async`) and leave
    the answer on the request, so this class then costs nothing; called on its own it
    does the whole check synchronously.
    """

    def authenticate(self, request: Request) -> tuple[Principal, None]:
        principal = getattr(request._request, PRINCIPAL_ATTR, None)
        if isinstance(principal, Principal):
            return principal, None
        return principal_for(presented_key(request._request)), None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'
