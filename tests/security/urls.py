"""The project's URLs plus views that only the security tests need (served by test server processes)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView


@csrf_exempt
def echo_body(request: HttpRequest) -> JsonResponse:
    """How many body bytes reached the view."""
    return JsonResponse({"received": len(request.body)})


class DrfThrottledView(APIView):
    """DRF's own throttle (read-modify-write of a list in the cache), for comparison."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]

    def get(self, request: Request, scope: str) -> Response:
        return Response({"ok": True})

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        self.throttle_scope = str(kwargs["scope"])
        super().initial(request, *args, **kwargs)


class ScopedView(APIView):
    """A view with its own throttle_scope (RATE_LIMIT_SCOPES["echo-scope"])."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "echo-scope"

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("test/echo-body/", echo_body),
    path("test/drf-throttled/<str:scope>/", DrfThrottledView.as_view()),
    path("test/scoped/", ScopedView.as_view(), name="scoped"),
    path("", include("project.urls")),
]
handler404 = "apps.core.api.problems.not_found"
handler500 = "apps.core.api.problems.server_error"
