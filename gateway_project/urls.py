"""Root URLs: the proxy under /v1/, the management API under /api/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("gateway_project.api_urls")),
    path("v1/", include("proxy.urls")),
]
