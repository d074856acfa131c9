"""Who may call the management API, and the base view applying it.

Three ways in: an operator's personal token (django-rest-knox, `Bearer gwop-…`, the operator's own
Django user and permissions), a staff session (the browsable API), or ADMIN_API_KEY (bootstrap and
automation: allowed everything, recorded in the history as `system.admin-api-key`). Knox rather
than DRF's authtoken: it keeps only a SHA-512 digest of each token (authtoken stores the token
itself), allows several tokens per operator, each with its own expiry, and is kept by Jazzband.
"""

import hmac
from typing import Any

from django.conf import settings
from django.db import models
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core.api_errors import api_exception_handler
from core.audit import Actor, actor_for_user, system_actor
from core.parsers import BoundedJSONParser


class AdminPrincipal:
    """The caller holding ADMIN_API_KEY: not a Django user, but allowed everything the API does."""

    is_authenticated = True
    is_active = True
    is_staff = True
    pk = None
    username = "admin-token"

    def __str__(self) -> str:
        return self.username


class AdminTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <ADMIN_API_KEY>`, compared in constant time.

    Without a configured ADMIN_API_KEY every bearer token is refused: an unset secret
    closes the token route rather than opening it.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # another scheme, or none: the session may still authenticate
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer token header.")
        if parts[1].startswith(OPERATOR_TOKEN_PREFIX):
            return OperatorTokenAuthentication().authenticate_credentials(parts[1])  # type: ignore[no-any-return]
        expected = (settings.ADMIN_API_KEY or "").encode()
        if not expected or not hmac.compare_digest(parts[1], expected):
            raise exceptions.AuthenticationFailed("Invalid admin token.")
        return AdminPrincipal(), None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="api"'


OPERATOR_TOKEN_PREFIX = b"gwop-"  # settings.REST_KNOX["TOKEN_PREFIX"]


class OperatorTokenAuthentication(TokenAuthentication):
    """Knox's check of a token (digest lookup by its first characters, constant-time compare, expiry)."""


# What each method needs of the view's model, as the admin asks it (a read needs view or change).
_NEEDED: dict[str, tuple[str, ...]] = {"GET": ("view", "change"), "HEAD": ("view", "change")}
_NEEDED |= {"OPTIONS": ("view", "change"), "POST": ("add",), "PATCH": ("change",), "DELETE": ("delete",)}


class AdminTokenOrStaff(BasePermission):
    """ADMIN_API_KEY; or an active staff user (token or session) with the model permission the method needs."""

    message = "Staff access, and the permission for this, are required."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, AdminPrincipal):
            return True
        if not (user is not None and user.is_authenticated and user.is_active and user.is_staff):
            return False
        model: type[models.Model] | None = getattr(view, "permission_model", None)
        if model is None or user.is_superuser:
            return True
        meta = model._meta
        method = request.method or "GET"
        needed = getattr(view, "permission_actions", {}).get(method) or _NEEDED.get(method, ("change",))
        return any(user.has_perm(f"{meta.app_label}.{action}_{meta.model_name}") for action in needed)


class AdminTokenScheme(OpenApiAuthenticationExtension):
    target_class = AdminTokenAuthentication
    name = "adminToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator's personal token (gwop-…), or the gateway's ADMIN_API_KEY.",
        }


class ListPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000
    max_offset = 10**12  # beyond what SQL backends take as an integer; no table is that long

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), self.max_offset)


class ManagementAPIView(APIView):
    """Base of every /api/ view: its own auth, JSON in, and errors rendered as DRF does."""

    authentication_classes = [AdminTokenAuthentication, SessionAuthentication]
    permission_classes = [AdminTokenOrStaff]
    parser_classes = [BoundedJSONParser]
    pagination_class: type[BasePagination] | None = None
    # The model whose permissions (view/add/change/delete) an operator's token or session needs here.
    permission_model: type[models.Model] | None = None
    # Per method, when it needs other permissions than _NEEDED says (an action posted to a row changes it).
    permission_actions: dict[str, tuple[str, ...]] = {}

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    @property
    def actor(self) -> Actor:
        """Who makes this request's changes, for the history: the token's or session's user, or ADMIN_API_KEY."""
        user = self.request.user
        if isinstance(user, AdminPrincipal):
            return system_actor(via="api")
        return actor_for_user(user=user, via="api")

    def paginated(self, queryset: Any, serializer_class: type[BaseSerializer[Any]]) -> Response:
        assert self.pagination_class is not None
        paginator = self.pagination_class()
        page: list[Any] | None = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)
