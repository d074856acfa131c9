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


# The admin's logo (⇄ on indigo) as the site icon: browsers ask for /favicon.ico whatever the page says.
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#4f46e5"/>'
    '<text x="16" y="23" font-size="20" text-anchor="middle" fill="#e0e7ff" font-family="sans-serif">⇄</text></svg>'
)


def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_ICON, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("gateway_project.api_urls")),
    path("v1/", include("proxy.urls")),
    # Served without middleware or credentials (asgi.OPS_PATHS): probes and scrapers must stay cheap.
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics),
    path("favicon.ico", favicon),
]
