"""URL routes: the admin, the versioned API, its schema and docs, and the probes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.observability.metrics_view import metrics
from apps.security.swagger import SwaggerUIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", include("apps.health.urls")),
    path("api/v1/auth/", include("apps.accent_auth.urls")),
    path("api/v1/documents/", include("apps.documents.api.urls")),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerUIView.as_view(url_name="schema"), name="swagger-ui"),
]

handler404 = "apps.core.api.problems.not_found"
handler500 = "apps.core.api.problems.server_error"
