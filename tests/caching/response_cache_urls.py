"""Test-only DRF views cached with `apps.caching.response_cache`, behind Accent-Auth ACLs.

`CALLS` counts how often each handler really ran, so a test can tell a hit from a miss without
trusting the `X-Cache` header alone. The docs example of docs/caching.md is routed too, exactly
as written (it is executed here with a stand-in `document_summary` selector).
"""

from __future__ import annotations

import re
import types
from collections import Counter
from pathlib import Path
from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accent_auth.permissions import HasRequiredAcl
from apps.caching import CachedResponseMixin, cache_response, invalidate_tags
from apps.core.context import current_actor, current_tenant
from apps.core.errors import NotFound

CALLS: Counter[str] = Counter()
DOC = Path(__file__).resolve().parents[2] / "docs" / "caching.md"


def report_tags(request: Request, pk: int) -> list[str]:
    return [f"test-report:{pk}", "test-reports:all"]


def _body(name: str, request: Request, pk: int) -> dict[str, Any]:
    CALLS[name] += 1
    tenant = current_tenant()
    return {
        "pk": pk,
        "actor": current_actor(),
        "tenant": str(tenant) if tenant else None,
        "query": {key: request.query_params.getlist(key) for key in sorted(request.query_params)},
        "run": CALLS[name],
    }


class CachedReport(APIView):
    """Per-caller entries (the default scope); 404 and 202 show what is not stored."""

    permission_classes = [HasRequiredAcl]
    required_acl = "documents.{pk}.read"

    @cache_response(key_prefix="test-report-view", ttl=60, tags=report_tags)
    def get(self, request: Request, pk: int) -> Response:
        if pk == 404:
            CALLS["report"] += 1
            raise NotFound(f"report {pk}")
        if pk == 202:
            CALLS["report"] += 1
            return Response({"pending": True}, status=202)
        if pk == 7 and CALLS["report"] == 0:
            # An invalidation lands while this response is being computed: it must not be stored.
            invalidate_tags([f"test-report:{pk}"])
        response = Response(_body("report", request, pk))
        response["X-Report-Version"] = "3"
        return response


class SharedReport(APIView):
    """One entry shared by every caller of a tenant who holds the update ACL (scope is a constant)."""

    permission_classes = [HasRequiredAcl]
    required_acl = "documents.{pk}.update"

    @cache_response(key_prefix="test-shared-report-view", ttl=60, tags=report_tags, scope=lambda request: "shared")
    def get(self, request: Request, pk: int) -> Response:
        return Response(_body("shared", request, pk))


class ReportBase(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = "documents.{pk}.read"

    def get(self, request: Request, pk: int) -> Response:
        return Response(_body("mixin", request, pk))


class MixinReport(CachedResponseMixin, ReportBase):  # type: ignore[misc]  # the mixin's get() wraps the view's
    cache_key_prefix = "test-mixin-report-view"
    cache_ttl = 60

    def get_cache_tags(self, request: Request, **kwargs: Any) -> list[str]:
        return [f"test-report:{kwargs['pk']}"]


def _docs_example() -> types.ModuleType:
    match = re.search(r"<!-- snippet: drf-view -->\n```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, "snippet drf-view not found in docs/caching.md"
    module = types.ModuleType("docs_caching_drf_view")

    def document_summary(*, document_id: int) -> dict[str, Any]:
        CALLS["docs"] += 1
        return {"id": document_id, "title": f"document {document_id}", "run": CALLS["docs"]}

    module.document_summary = document_summary  # type: ignore[attr-defined]
    exec(compile(match.group(1), str(DOC), "exec"), module.__dict__)
    return module


docs_example = _docs_example()

urlpatterns = [
    path("reports/<int:pk>/", CachedReport.as_view()),
    path("shared-reports/<int:pk>/", SharedReport.as_view()),
    path("mixin-reports/<int:pk>/", MixinReport.as_view()),
    path("documents/<int:pk>/summary/", docs_example.DocumentSummary.as_view()),
]
