"""Root URLs: the proxy under /v1/, the management API under /api/, the admin under /admin/, probes and metrics."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from budgets.metrics import budget_gauges
from core.metrics import metrics_view
from gateway_project.health import healthz, readyz


async def metrics(request: HttpRequest) -> HttpResponse:
    """/metrics: every worker's series, and the budget gauges read from the database."""
    return await metrics_view(request, extra=(budget_gauges(),))


urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("gateway_project.api_urls")),
    path("v1/", include("proxy.urls")),
    # Served without middleware or credentials (asgi.OPS_PATHS): probes and scrapers must stay cheap.
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics),
]
