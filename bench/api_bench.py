"""A 50-row list page through our documents API vs DRF's CursorPagination + ModelSerializer.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/api_bench.py
    DATABASE_URL=... .venv/bin/python bench/api_bench.py --documents 120 --requests 10     # toy size

It creates its own database (`bench_api_<pid>`) on the PostgreSQL server `DATABASE_URL`
points at (SQLite in a temporary file without it), migrates it, seeds `--documents`
documents in the acme tenant, and drops it at the end. Redis (token cache and list cache)
when `REDIS_URL` is set, process memory otherwise.

Both sides are measured in-process with Django's test `Client`, through the same full
middleware stack, the same Accent-Auth token authentication (the stand-in server over
HTTP, token cache warmed before timing), the same ACL permission, tenant scoping and
JSON renderer, on the same rows in the same order (`-created_at, -id`). Rate limiting is
switched off for both (it would refuse a benchmark's request rate, and costs both the same):
- baseline: a bare DRF `ListAPIView` with DRF's own `CursorPagination` (page size 50)
  and a `ModelSerializer` of the same fields, defined here and served by a bench-only
  URLconf (`override_settings(ROOT_URLCONF=...)`);
- ours, `GET /api/v1/documents/` with the list cache cold: the `documents:lists` tag is
  invalidated before every request (outside the timer), so each one runs the selector,
  the query and the cache fill;
- ours with the cache layer taken out (the view calls the undecorated selector);
- ours, served from the list cache (reported separately; not the target's figure);
- the floor every case pays: the same stack, token and ACL check, an empty page, no query.
Each figure is the median of `--requests` timed requests after a warm-up, the cases
interleaved request by request so that a burst of load on the machine hits all of them alike.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.own_database import bench_django  # noqa: E402 - after the path is set

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")  # alice's tenant in the stand-in
PAGE_SIZE = 50
OURS_URL = "/api/v1/documents/"
DRF_URL = "/bench/drf-documents/"
FLOOR_URL = "/bench/empty-page/"


@dataclass(frozen=True)
class Case:
    name: str
    seconds: float  # median per request
    queries: int  # SQL statements per request


def seed_documents(count: int) -> None:
    """`count` documents in ACME through the repository (setup, not timed)."""
    from apps.core.context import acting_as, in_tenant
    from apps.documents.repositories import DocumentRepository

    rows = [
        {"title": f"Document {index:05d}", "body": "Lorem ipsum " * 20, "status": "published", "tags": ["a", "b"]}
        for index in range(count)
    ]
    with in_tenant(ACME), acting_as("bench"):
        DocumentRepository().upsert(rows, conflict_fields=["title"], update_fields=["body", "status", "tags"])
    # Statistics, as a live table has them: without, the plan depends on whether autovacuum
    # has analysed the fresh table yet (a top-N sort of the tenant instead of the keyset index).
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE documents_document")


def bench_urlconf() -> Any:
    """The project's URLs plus the DRF baseline view, as a module-like object for ROOT_URLCONF."""
    from django.urls import path
    from rest_framework import generics, serializers
    from rest_framework.pagination import CursorPagination
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from apps.accent_auth.permissions import HasRequiredAcl
    from apps.documents.api.serializers import DOCUMENT
    from apps.documents.models import Document
    from apps.documents.repositories import DocumentRepository
    from project import urls

    class DocumentModelSerializer(serializers.ModelSerializer[Document]):
        class Meta:
            model = Document
            fields = DOCUMENT.fields

    class DrfCursorPagination(CursorPagination):
        page_size = PAGE_SIZE
        ordering = ("-created_at", "-id")

    class DrfDocumentList(generics.ListAPIView[Document]):
        serializer_class = DocumentModelSerializer
        pagination_class = DrfCursorPagination
        permission_classes = [HasRequiredAcl]
        required_acl = "documents.read"
        filter_backends: list[Any] = []

        def get_queryset(self) -> Any:
            return DocumentRepository().queryset()  # the same tenant scoping as ours

    class EmptyPage(APIView):
        """The shared floor: the same stack, authentication and ACL check, no query, an empty page."""

        permission_classes = [HasRequiredAcl]
        required_acl = "documents.read"

        def get(self, request: Request) -> Response:
            return Response({"results": [], "next": None, "previous": None})

    class BenchUrls:
        urlpatterns = [
            path(DRF_URL.strip("/") + "/", DrfDocumentList.as_view()),
            path(FLOOR_URL.strip("/") + "/", EmptyPage.as_view()),
            *urls.urlpatterns,
        ]

    return BenchUrls


@dataclass(frozen=True)
class _Setup:
    name: str
    url: str
    before_each: Callable[[], Any]  # run outside the timer; may return a context to hold around the request


def _one_request(client: Any, setup: _Setup, headers: dict[str, str]) -> tuple[float, Any]:
    context = setup.before_each() or contextlib.nullcontext()
    with context:
        started = time.perf_counter()
        response = client.get(setup.url, headers=headers)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content
    return elapsed, response


def _measure(client: Any, setups: list[_Setup], headers: dict[str, str], requests: int) -> list[Case]:
    """Interleaved: request i of every case, then request i + 1, so a burst of load hits all alike."""
    from django.db import connection

    for _ in range(max(3, requests // 10)):  # warm-up: imports, plans, connections
        for setup in setups:
            _one_request(client, setup, headers)
    counts, ids = [], []
    for setup in setups:
        statements: list[str] = []

        def count(execute: Callable[..., Any], sql: str, *args: Any, log: list[str] = statements) -> Any:
            log.append(sql)
            return execute(sql, *args)

        # An execute wrapper, not CaptureQueriesContext: request_started resets the queries log.
        with connection.execute_wrapper(count):
            _, response = _one_request(client, setup, headers)
        counts.append(len(statements))
        ids.append([row["id"] for row in response.json()["results"]])
    pages = [page for page in ids if page]
    assert len(pages[0]) == PAGE_SIZE, pages[0]
    assert all(page == pages[0] for page in pages), "every case must serve the same rows in the same order"
    timings: list[list[float]] = [[] for _ in setups]
    for _ in range(requests):
        for position, setup in enumerate(setups):
            timings[position].append(_one_request(client, setup, headers)[0])
    return [
        Case(setup.name, statistics.median(times), count)
        for setup, times, count in zip(setups, timings, counts, strict=True)
    ]


def run(*, documents: int, requests: int) -> list[Case]:
    """Seed and measure on the configured (migrated) database, starting and stopping the stand-in."""
    from unittest import mock

    import httpx
    from django.test import Client, override_settings

    from apps.accent_auth import token_cache
    from apps.caching import invalidate_tags
    from apps.documents.api import views
    from apps.documents.selectors import LIST_TAG, document_list
    from devtools.accent_auth_standin import StandInAccentAuth

    seed_documents(documents)
    standin = StandInAccentAuth().start()
    token = ""
    try:
        with override_settings(
            ACCENT_AUTH_URL=standin.url,
            ROOT_URLCONF=bench_urlconf(),
            ALLOWED_HOSTS=["testserver"],
            DEBUG=False,
            RATE_LIMIT_ENABLED=False,
        ):
            response = httpx.post(f"{standin.url}/token", auth=("alice", "alice"), json={"expiration": 3600})
            token = str(response.json()["data"]["token"])

            def drop_list_cache() -> None:
                invalidate_tags([LIST_TAG])

            def without_cache_layer() -> Any:
                # The view calling the undecorated selector: no cache round trips at all.
                return mock.patch.object(views, "document_list", document_list.__wrapped__)  # type: ignore[attr-defined]

            def nothing() -> None:
                return None

            setups = [
                _Setup("DRF `ListAPIView` + `CursorPagination` + `ModelSerializer` (baseline)", DRF_URL, nothing),
                _Setup("ours, `GET /api/v1/documents/`, list cache cold (miss + fill)", OURS_URL, drop_list_cache),
                _Setup("ours, the same view with the cache layer taken out", OURS_URL, without_cache_layer),
                _Setup("ours, served from the list cache (separate figure)", OURS_URL, nothing),
                _Setup("floor: same stack, token and ACL, an empty page (no query)", FLOOR_URL, nothing),
            ]
            cases = _measure(Client(), setups, {"X-Auth-Token": token}, requests)
            assert standin.calls("GET /token") <= 2, "the token cache was not warm"
    finally:
        standin.stop()
        if token:
            token_cache.forget_token(token)
        invalidate_tags([LIST_TAG])
    return cases


def format_table(cases: list[Case], *, documents: int, requests: int, backends: str) -> str:
    baseline = cases[0].seconds
    lines = [
        f"{documents:,} documents, {PAGE_SIZE}-row first page, median of {requests:,} requests each; "
        f"in-process Django test Client, full middleware stack, Accent-Auth token (warm cache); {backends}",
        "",
        "| case | µs/request | SQL statements | ratio to DRF | µs above the floor | ratio to DRF's, above the floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    floor = cases[-1].seconds
    for case in cases:
        above = case.seconds - floor
        lines.append(
            f"| {case.name} | {case.seconds * 1e6:,.0f} | {case.queries} | {case.seconds / baseline:.2f} "
            f"| {above * 1e6:,.0f} | {above / (baseline - floor):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--documents", type=int, default=1_000, help="documents seeded in the tenant")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case (median printed)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "No directory at")  # static files are not served here
    with bench_django("api", allow_sqlite=True, keep=("REDIS_URL",)) as vendor:
        from django.conf import settings

        cases = run(documents=args.documents, requests=args.requests)
        backends = f"{vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
        print(format_table(cases, documents=args.documents, requests=args.requests, backends=backends))


if __name__ == "__main__":
    main()
