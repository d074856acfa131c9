"""Writes to API keys: creation (the raw key is returned once), revocation, updates."""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from core.audit import Actor, audit_added, audit_changed, field_changes, system_actor
from core.cache import cache_invalidate
from keys.allow_lists import allow_list_refusals
from keys.models import APIKey

KEY_CACHE = "key"
KEY_SCHEME = "gw-"
PREFIX_LENGTH = 11  # "gw-" and 8 characters: enough to tell keys apart, far too few to guess one
_UPDATABLE = frozenset({"name", "is_active", "expires_at", "allowed_models", "rpm_limit", "tpm_limit"})


@dataclass(frozen=True)
class CreatedKey:
    key: APIKey
    raw: str  # shown to the operator once, never stored

    def __repr__(self) -> str:
        return f"CreatedKey(key={self.key!r}, raw='{self.key.prefix}…')"


def key_hash(raw: str) -> str:
    """HMAC-SHA256 under a server-side secret: a stolen table alone cannot confirm a guess."""
    return hmac.new(settings.KEY_HASH_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()


def _clean_models(allowed_models: list[str] | None, *, already: Sequence[str] = ()) -> list[str]:
    """The allow-list sorted, without duplicates; names not in it `already` must be known (keys.allow_lists)."""
    if allowed_models is None:
        return []
    if not isinstance(allowed_models, list) or not all(isinstance(m, str) and m.strip() for m in allowed_models):
        raise ValidationError("allowed_models must be a list of model names.")
    names = sorted({m.strip() for m in allowed_models})
    if refusals := allow_list_refusals(names=[name for name in names if name not in already]):
        raise ValidationError(f"allowed_models: {'; '.join(refusals)}.")
    return names


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(f"expires_at {expires_at.isoformat()} is in the past: the key could never be used.")


@transaction.atomic
def key_create(
    *,
    account: Account,
    name: str = "",
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    actor: Actor | None = None,
) -> CreatedKey:
    _check_expiry(expires_at)
    allowed_models = _clean_models(allowed_models)
    raw = KEY_SCHEME + secrets.token_urlsafe(32)  # 256 bits from the OS's CSPRNG
    key = APIKey.objects.create(
        account=account,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        key_hash=key_hash(raw),
        expires_at=expires_at,
        allowed_models=allowed_models,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
    )
    shown = ("name", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")  # never the hash
    audit_added(
        actor=actor or system_actor(via="gateway"),
        obj=key,
        values={"prefix": key.prefix, **{name: getattr(key, name) for name in shown}},
    )
    return CreatedKey(key=key, raw=raw)


@transaction.atomic
def key_update(*, key: APIKey, actor: Actor | None = None, **fields: Any) -> APIKey:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if "allowed_models" in fields:
        fields["allowed_models"] = _clean_models(fields["allowed_models"], already=key.allowed_models)
    if "expires_at" in fields and fields["expires_at"] != key.expires_at:
        _check_expiry(fields["expires_at"])  # an expiry already past may stay while other fields change
    changes = field_changes(key, fields)
    for name, value in fields.items():
        setattr(key, name, value)
    key.save(update_fields=list(fields))
    audit_changed(actor=actor or system_actor(via="gateway"), obj=key, changes=changes)
    key_hash_value = key.key_hash
    transaction.on_commit(lambda: cache_invalidate(KEY_CACHE, key_hash_value))
    return key


def key_revoke(*, key: APIKey, actor: Actor | None = None) -> APIKey:
    return key_update(key=key, is_active=False, actor=actor)


def key_touch(*, key_id: Any) -> None:
    """Records use; at most once a minute per key, so the hot path rarely writes."""
    now = timezone.now()
    APIKey.objects.filter(pk=key_id).exclude(last_used_at__gt=now - timedelta(minutes=1)).update(last_used_at=now)
