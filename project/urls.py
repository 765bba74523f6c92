"""URL routes: the admin, the versioned API, its schema and docs, GraphQL, and the probes."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from apps.accent_auth.graphql import GraphQLView
from apps.core.api.problems import unknown_api_url
from apps.observability.metrics_view import metrics
from apps.security.swagger import SwaggerUIView
from project.graphql import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", include("apps.health.urls")),
    path("api/v1/auth/", include("apps.accent_auth.urls")),
    # Each feature app's API at /api/v1/<name>/ (settings.FEATURE_APPS).
    *(path(f"api/v1/{app.rpartition('.')[2]}/", include(f"{app}.api.urls")) for app in settings.FEATURE_APPS),
    # GraphQL over the same selectors, services and ACLs (docs/graphql.md); GraphiQL in DEBUG only.
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerUIView.as_view(url_name="schema"), name="swagger-ui"),
    # Last: any other /api/ path is a problem+json 404, in DEBUG too, for every method (no slash redirect).
    re_path(r"^api/", unknown_api_url),
]

handler400 = "apps.core.api.problems.bad_request"
handler403 = "apps.core.api.problems.permission_denied"
handler404 = "apps.core.api.problems.not_found"
handler500 = "apps.core.api.problems.server_error"
