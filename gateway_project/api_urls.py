"""Management REST API routes, its OpenAPI schema and its docs."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.api import AccountDetail, AccountListCreate
from alerts.api import DeliveryList, DeliveryRetry, DestinationDetail, DestinationListCreate, EventDetail, EventList
from budgets.api import BudgetDetail, BudgetHistory, BudgetListCreate, TeamDetail, TeamListCreate
from core.api_auth import ManagementAPIView
from core.api_errors import api_not_found
from gateway_project.audit_api import AuditList
from keys.api import KeyDetail, KeyListCreate
from pricing.api import CostDetail, CostListUpsert
from proxy.api import ProviderList
from routing.api import DeploymentDetail, DeploymentListCreate, PolicyDetail, PolicyListSet
from usage.api import UsageByAccount, UsageList
from usage.report_api import SpendReportView

_PROTECTED = {
    "authentication_classes": ManagementAPIView.authentication_classes,
    "permission_classes": ManagementAPIView.permission_classes,
}


class ApiRoot(ManagementAPIView):
    """The management API: follow the links, read the OpenAPI schema, or try it in the docs (Swagger UI)."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        names = ["accounts", "teams", "budgets", "keys", "costs", "usage-all", "spend-report", "providers"]
        names += ["deployments", "policies", "audit", "alert-events", "alert-destinations", "alert-deliveries"]
        names += ["schema", "docs"]
        return Response({name: reverse(f"api-{name}", request=request) for name in names})


ROUTES: list[URLPattern | URLResolver] = [
    path("accounts/", AccountListCreate.as_view(), name="api-accounts"),
    path("accounts/<str:user_id>/", AccountDetail.as_view(), name="api-account"),
    path("teams/", TeamListCreate.as_view(), name="api-teams"),
    path("teams/<str:slug>/", TeamDetail.as_view(), name="api-team"),
    path("budgets/", BudgetListCreate.as_view(), name="api-budgets"),
    path("budgets/<str:budget_id>/", BudgetDetail.as_view(), name="api-budget"),
    path("budgets/<str:budget_id>/history/", BudgetHistory.as_view(), name="api-budget-history"),
    path("keys/", KeyListCreate.as_view(), name="api-keys"),
    path("keys/<str:key_id>/", KeyDetail.as_view(), name="api-key"),
    path("costs/", CostListUpsert.as_view(), name="api-costs"),
    # A path converter: model names such as "anthropic/claude-3-5-haiku" contain "/".
    path("costs/<path:model>/", CostDetail.as_view(), name="api-cost"),
    path("usage/", UsageList.as_view(), name="api-usage-all"),
    path("usage/user/<str:user_id>/", UsageByAccount.as_view(), name="api-usage"),
    path("reports/spend/", SpendReportView.as_view(), name="api-spend-report"),
    path("providers/", ProviderList.as_view(), name="api-providers"),
    path("routing/deployments/", DeploymentListCreate.as_view(), name="api-deployments"),
    path("routing/deployments/<str:deployment_id>/", DeploymentDetail.as_view(), name="api-deployment"),
    path("routing/policies/", PolicyListSet.as_view(), name="api-policies"),
    path("routing/policies/<path:public_name>/", PolicyDetail.as_view(), name="api-policy"),
    path("audit/", AuditList.as_view(), name="api-audit"),
    path("alerts/events/", EventList.as_view(), name="api-alert-events"),
    path("alerts/events/<str:event_id>/", EventDetail.as_view(), name="api-alert-event"),
    path("alerts/destinations/", DestinationListCreate.as_view(), name="api-alert-destinations"),
    path("alerts/destinations/<str:destination_id>/", DestinationDetail.as_view(), name="api-alert-destination"),
    path("alerts/deliveries/", DeliveryList.as_view(), name="api-alert-deliveries"),
    path("alerts/deliveries/<str:delivery_id>/retry/", DeliveryRetry.as_view(), name="api-alert-delivery-retry"),
]
# The schema describes these routes only (not the proxy's /v1/ views), mounted where the root urls put them.
_SCHEMA = SpectacularAPIView.as_view(patterns=[path("api/", include(ROUTES))], **_PROTECTED)

urlpatterns: list[URLPattern | URLResolver] = [
    path("", ApiRoot.as_view(), name="api-root"),
    *ROUTES,
    path("schema/", _SCHEMA, name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", **_PROTECTED), name="api-docs"),
    # Last: whatever no route above takes; [\s\S], not ".", so a path with a line break in it too.
    re_path(r"^(?P<path>[\s\S]*)$", api_not_found),
]
