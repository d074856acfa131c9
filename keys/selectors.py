"""Reads of API keys, including authentication of a presented key (cached)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from core.cache import cache_get_or_load
from keys.models import APIKey
from keys.services import KEY_CACHE, key_hash


@dataclass(frozen=True)
class KeyState:
    """The cached facts about a key that auth and admission need; holds no secret."""

    id: Any
    account_id: Any
    prefix: str
    is_active: bool
    expires_at: datetime | None
    allowed_models: tuple[str, ...] = field(default=())
    rpm_limit: int | None = None
    tpm_limit: int | None = None

    @property
    def is_usable(self) -> bool:
        return self.is_active and (self.expires_at is None or self.expires_at > timezone.now())


_FIELDS = ("id", "account_id", "prefix", "is_active", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")


def key_lookup(*, raw: str) -> KeyState | None:
    """The key behind a presented secret, or None. Unknown hashes are cached too (as None)."""
    digest = key_hash(raw)

    def load() -> KeyState | None:
        row = APIKey.objects.filter(key_hash=digest).values(*_FIELDS).first()
        if row is None:
            return None
        row["allowed_models"] = tuple(row["allowed_models"] or ())
        return KeyState(**row)

    return cache_get_or_load(KEY_CACHE, digest, load)


def key_list(*, account_id: Any = None) -> QuerySet[APIKey]:
    qs = APIKey.objects.select_related("account")
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    return qs.order_by("-created_at")


def key_get(*, key_id: Any) -> APIKey:
    """The key with this primary key. A malformed id (not an integer, not an ObjectId) is simply not found."""
    try:
        return APIKey.objects.select_related("account").get(pk=key_id)
    except (ValueError, TypeError, OverflowError, ValidationError) as exc:
        raise APIKey.DoesNotExist(f"No API key with id {key_id!r}.") from exc
