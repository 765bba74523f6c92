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


class EchoJsonView(APIView):
    """The parsed JSON body back, through the API's parser, with no authentication (hostile bodies)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request: Request) -> Response:
        return Response({"received": request.data})


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


class BareDocumentView(APIView):
    """The same JSON as a document detail, with no authentication, permission or throttle (bench/load.py)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    body = {
        "id": "01a217aa-9ea9-7784-be67-76e146ddaa6f",
        "title": "Load",
        "body": "",
        "status": "draft",
        "tags": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "created_by": "00000000-0000-4000-9000-00000000000a",
        "updated_by": "00000000-0000-4000-9000-00000000000a",
    }

    def get(self, request: Request) -> Response:
        return Response(self.body)


urlpatterns = [
    path("test/bare-document/", BareDocumentView.as_view()),
    path("test/echo-body/", echo_body),
    path("api/test/echo-json/", EchoJsonView.as_view()),
    path("test/drf-throttled/<str:scope>/", DrfThrottledView.as_view()),
    path("test/scoped/", ScopedView.as_view(), name="scoped"),
    path("", include("project.urls")),
]
handler404 = "apps.core.api.problems.not_found"
handler500 = "apps.core.api.problems.server_error"
