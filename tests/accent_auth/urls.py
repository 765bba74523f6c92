"""A test-only API protected the way the documents API will be: token or session, ACL, tenant.

`ProbeDocuments` keeps a per-tenant in-memory store and reads it through
`current_tenant()`, as a tenant-scoped repository does, so tests can prove
cross-tenant isolation end to end.
"""

from __future__ import annotations

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accent_auth.permissions import HasRequiredAcl
from apps.core.context import current_actor, current_tenant
from apps.core.errors import NotFound

ACME = "00000000-0000-4000-8000-00000000000a"
GLOBEX = "00000000-0000-4000-8000-00000000000b"
DOCUMENTS = {ACME: {"1": "acme plan", "2": "acme budget"}, GLOBEX: {"3": "globex plan"}}


def _context() -> dict[str, str | None]:
    tenant = current_tenant()
    return {"actor": current_actor(), "tenant": str(tenant) if tenant else None}


class ProbeDocumentList(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = {"GET": "documents.read", "POST": "documents.create"}

    def get(self, request: Request) -> Response:
        return Response({**_context(), "documents": sorted(DOCUMENTS.get(str(current_tenant()), {}))})

    def post(self, request: Request) -> Response:
        return Response(_context(), status=201)


class ProbeDocumentDetail(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = {"GET": "documents.{pk}.read", "PATCH": "documents.{pk}.update", "DELETE": "documents.{pk}.delete"}

    def _document(self, pk: str) -> str:
        try:
            return DOCUMENTS[str(current_tenant())][pk]
        except KeyError:
            raise NotFound(f"No document {pk}.") from None

    def get(self, request: Request, pk: str) -> Response:
        return Response({**_context(), "title": self._document(pk)})

    def patch(self, request: Request, pk: str) -> Response:
        return Response({**_context(), "title": self._document(pk)})

    def delete(self, request: Request, pk: str) -> Response:
        self._document(pk)
        return Response(status=204)


class ProbeUser(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = "users.{user_uuid}.read"

    def get(self, request: Request, user_uuid: str) -> Response:
        return Response(_context())


class ProbeWhoami(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = None

    def get(self, request: Request) -> Response:
        return Response(_context())


class ProbeUndeclared(APIView):
    permission_classes = [HasRequiredAcl]

    def get(self, request: Request) -> Response:
        return Response({})


class ProbeUndeclaredPut(APIView):
    """Implements PUT but declares an ACL for GET only: PUT is refused (fail closed)."""

    permission_classes = [HasRequiredAcl]
    required_acl = {"GET": None}

    def get(self, request: Request) -> Response:
        return Response({})

    def put(self, request: Request) -> Response:
        return Response({})


urlpatterns = [
    path("api/v1/probe/documents/", ProbeDocumentList.as_view()),
    path("api/v1/probe/documents/<str:pk>/", ProbeDocumentDetail.as_view()),
    path("api/v1/probe/users/<str:user_uuid>/", ProbeUser.as_view()),
    path("api/v1/probe/whoami/", ProbeWhoami.as_view()),
    path("api/v1/probe/undeclared/", ProbeUndeclared.as_view()),
    path("api/v1/probe/undeclared-put/", ProbeUndeclaredPut.as_view()),
    path("api/v1/auth/", include("apps.accent_auth.urls")),
]
