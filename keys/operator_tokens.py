"""Operators' personal REST API tokens (django-rest-knox): made for a Django user, shown once, audited."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from core.audit import Actor, audit_added, audit_deleted, audit_label


def operator_token_label(token: AuthToken) -> str:
    """How pages and the change history name a token: its first characters and its operator. knox's str()
    is the token's 128-character digest, which says nothing to anyone and should not be shown."""
    return f"{token.token_key}… ({token.user})"


audit_label(AuthToken, operator_token_label)


@transaction.atomic
def operator_token_create(*, user: Any, expires_at: datetime | None, actor: Actor) -> tuple[AuthToken, str]:
    """A new token for `user` (their permissions apply to it); the raw token is returned once and never kept."""
    expiry = None if expires_at is None else expires_at - timezone.now()
    token, raw = AuthToken.objects.create(user=user, expiry=expiry)
    audit_added(actor=actor, obj=token, values={"user": user.get_username(), "expires_at": token.expiry})
    return token, raw


@transaction.atomic
def operator_token_delete(*, token: AuthToken, actor: Actor) -> None:
    audit_deleted(actor=actor, obj=token, values={"user": token.user.get_username(), "token": token.token_key})
    token.delete()
