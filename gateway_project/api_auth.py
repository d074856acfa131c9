"""Who may call the management API (the admin bearer token or a staff session), and the base view applying it."""

import hmac
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from gateway_project.api_errors import api_exception_handler
from gateway_project.audit import Actor, actor_for_user, system_actor
from gateway_project.parsers import BoundedJSONParser


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

    def authenticate(self, request: Request) -> tuple[AdminPrincipal, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # another scheme, or none: the session may still authenticate
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer token header.")
        expected = (settings.ADMIN_API_KEY or "").encode()
        if not expected or not hmac.compare_digest(parts[1], expected):
            raise exceptions.AuthenticationFailed("Invalid admin token.")
        return AdminPrincipal(), None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="api"'


class AdminTokenOrStaff(BasePermission):
    """The admin token, or an active staff user logged in through the admin."""

    message = "Staff access is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class AdminTokenScheme(OpenApiAuthenticationExtension):
    target_class = AdminTokenAuthentication
    name = "adminToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The gateway's ADMIN_API_KEY."}


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
