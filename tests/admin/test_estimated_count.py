"""Large tables: estimated changelist counts on PostgreSQL, and list queries constant in page size."""

from __future__ import annotations

import itertools

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.admin import EstimatedCountPaginator, planner_row_estimate
from apps.core.context import acting_as
from apps.documents.models import Attachment, Document
from tests.admin.conftest import ACME, VIEW_AND_DELETE, client_for, create_staff

pytestmark = pytest.mark.django_db


_numbers = itertools.count()


def _documents(count: int, *, attachments_each: int = 1) -> None:
    with acting_as("script:seed"):
        titles = [f"doc {next(_numbers):05}" for _ in range(count)]
        documents = Document.objects.bulk_create(Document(title=title, tenant_id=ACME) for title in titles)
        Attachment.objects.bulk_create(
            Attachment(document=d, filename=f"{d.title}-{k}.pdf") for d in documents for k in range(attachments_each)
        )


def _changelist_queries(name: str, rows: int) -> int:
    client = client_for(create_staff(f"counter{rows}", perms=VIEW_AND_DELETE))
    client.get(reverse(name))  # warm the session and the content types
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name), {"state": "all"})
    assert len(response.context["cl"].result_list) == rows
    return len(queries.captured_queries)


@pytest.mark.parametrize("name", ["admin:documents_document_changelist", "admin:documents_attachment_changelist"])
def test_list_queries_do_not_grow_with_the_page(name: str) -> None:
    _documents(5)
    small = _changelist_queries(name, 5)
    _documents(20)
    assert _changelist_queries(name, 25) == small


@pytest.fixture
def estimating_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin.site._registry[Document], "exact_count_below", 20)


@pytest.mark.usefixtures("postgres", "estimating_admin")
def test_a_large_table_is_never_counted_on_postgresql() -> None:
    _documents(120, attachments_each=0)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Document._meta.db_table}")
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:documents_document_changelist"))
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [q for q in sql if "COUNT(" in q]
    assert any(q.startswith("EXPLAIN") for q in sql)
    changelist = response.context["cl"]
    assert changelist.count_is_estimated
    assert 60 <= changelist.result_count <= 240  # the planner's figure, near the truth
    assert f"about {changelist.result_count} documents" in response.content.decode()
    assert len(changelist.result_list) == 50


@pytest.mark.usefixtures("postgres")
def test_small_results_are_counted_exactly_even_on_postgresql() -> None:
    _documents(30, attachments_each=0)
    paginator = EstimatedCountPaginator(Document.objects.order_by("pk"), 10, exact_below=10_000)
    assert paginator.count == 30
    assert not paginator.is_estimated
    estimate = planner_row_estimate(Document.objects.filter(title="no such title"))
    assert estimate is not None
    assert estimate < 10


def test_without_a_planner_estimate_the_count_is_exact() -> None:
    _documents(30, attachments_each=0)
    estimate = planner_row_estimate(Document.objects.all())
    if connection.vendor == "postgresql":
        assert isinstance(estimate, int)
    else:
        assert estimate is None  # SQLite: nothing to estimate from
    paginator = EstimatedCountPaginator(Document.objects.order_by("pk"), 10, exact_below=10**9)
    assert (paginator.count, paginator.is_estimated) == (30, False)
    assert EstimatedCountPaginator(Document.objects.order_by("pk").none(), 10, exact_below=0).count == 0
