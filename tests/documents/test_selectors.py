"""The reads of documents, through their selectors: what each returns, for whom, in which order.

Results are compared as the JSON the API sends (`as_json`), so the tests hold whatever shape a
selector renders its rows in (dicts, or a JSON array in bytes).
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from apps.core.context import acting_as, in_tenant
from apps.core.errors import InvalidInput, NotFound
from apps.documents.models import Document
from apps.documents.selectors import document_detail, document_list, document_offset_page
from tests.factories import TENANT_A, TENANT_B, DocumentFactory

pytestmark = pytest.mark.django_db


def as_json(value: Any) -> Any:
    """A selector's result as the parsed JSON a client receives."""
    if isinstance(value, bytes | str):
        return json.loads(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def listed(*, deleted: bool = False, ordering: str | None = None, **filters: str) -> list[dict[str, Any]]:
    """The rows of the first cursor page (in the current tenant)."""
    rows: list[dict[str, Any]] = as_json(document_list(filters=filters, ordering=ordering, deleted=deleted).results)
    return rows


def titles(rows: list[dict[str, Any]]) -> list[str]:
    return [row["title"] for row in rows]


@pytest.fixture(autouse=True)
def _in_tenant_a() -> Iterator[None]:
    with in_tenant(TENANT_A), acting_as("user-7"):
        yield


def dated(title: str, minutes_ago: int, **fields: Any) -> Document:
    """A document created `minutes_ago` minutes ago: the default order (newest first) is then known."""
    document = DocumentFactory.create(title=title, **fields)
    Document.all_objects.filter(pk=document.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago)
    )
    return document


# --- document_detail -------------------------------------------------------------------------------


def test_detail_returns_the_documents_fields_for_its_id_as_uuid_or_string() -> None:
    document = DocumentFactory.create(title="Plan", body="text", status="published", tags=["a"])
    detail = as_json(document_detail(document.pk))
    assert {name: detail[name] for name in ("id", "title", "body", "status", "tags", "created_by")} == {
        "id": str(document.pk),
        "title": "Plan",
        "body": "text",
        "status": "published",
        "tags": ["a"],
        "created_by": "user-7",
    }
    assert as_json(document_detail(str(document.pk))) == detail


def test_detail_of_a_missing_malformed_deleted_or_other_tenants_id_is_not_found() -> None:
    deleted = DocumentFactory.create()
    deleted.delete()
    theirs = DocumentFactory.create(tenant_id=TENANT_B)
    for document_id in (uuid.uuid4(), "not-a-uuid", deleted.pk, theirs.pk):
        with pytest.raises(NotFound):
            document_detail(document_id)


def test_detail_outside_any_tenant_is_not_found() -> None:
    document = DocumentFactory.create()
    with in_tenant(None), pytest.raises(NotFound):
        document_detail(document.pk)


# --- document_list ---------------------------------------------------------------------------------


def test_list_shows_the_tenants_live_documents_newest_first() -> None:
    dated("older", 2)
    dated("newer", 1)
    dated("deleted", 0).delete()
    DocumentFactory.create(title="theirs", tenant_id=TENANT_B)
    assert titles(listed()) == ["newer", "older"]


def test_list_filters_by_status_tag_and_search() -> None:
    DocumentFactory.create(title="draft one", tags=["red"])
    DocumentFactory.create(title="published one", status="published", tags=["blue"], body="needle")
    assert titles(listed(status="published")) == ["published one"]
    assert titles(listed(tag="red")) == ["draft one"]
    assert titles(listed(q="needle")) == ["published one"]


def test_list_filters_by_creation_time() -> None:
    dated("old", 60)
    dated("recent", 1)
    since = (timezone.now() - datetime.timedelta(minutes=30)).isoformat()
    assert titles(listed(created_after=since)) == ["recent"]
    assert titles(listed(created_before=since)) == ["old"]


@pytest.mark.parametrize(
    "filters", [{"status": "bogus"}, {"created_after": "yesterday"}], ids=["unknown status", "not a date"]
)
def test_a_bad_filter_is_invalid_input(filters: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        document_list(filters=filters)


def test_list_orders_by_an_allowed_field_either_way_and_refuses_others() -> None:
    for title in ("b", "c", "a"):
        DocumentFactory.create(title=title)
    assert titles(listed(ordering="title")) == ["a", "b", "c"]
    assert titles(listed(ordering="-title")) == ["c", "b", "a"]
    with pytest.raises(InvalidInput):
        listed(ordering="body")


def test_cursor_pages_walk_every_document_once_forward_and_back() -> None:
    for index in range(5):
        DocumentFactory.create(title=f"doc-{index}")
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = document_list(filters={}, ordering="title", cursor=cursor, limit=2)
        pages.append(titles(as_json(page.results)))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == [["doc-0", "doc-1"], ["doc-2", "doc-3"], ["doc-4"]]
    assert page.previous_cursor is not None
    back = document_list(filters={}, ordering="title", cursor=page.previous_cursor, limit=2)
    assert titles(as_json(back.results)) == ["doc-2", "doc-3"]


def test_a_tampered_cursor_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        document_list(filters={}, cursor="not-a-cursor")


def test_deleted_lists_the_tenants_deleted_documents_with_who_deleted_them_last_deleted_first() -> None:
    DocumentFactory.create(title="alive")
    for title in ("first", "second"):
        with acting_as("remover"):
            DocumentFactory.create(title=title).delete()
    DocumentFactory.create(title="theirs", tenant_id=TENANT_B).delete()
    rows = listed(deleted=True)
    assert titles(rows) == ["second", "first"]
    assert {row["deleted_by"] for row in rows} == {"remover"}
    assert all(row["deleted_at"] for row in rows)


# --- document_offset_page --------------------------------------------------------------------------


def test_offset_page_returns_the_slice_its_total_and_whether_more_follow() -> None:
    for title in ("a", "b", "c", "d", "e"):
        DocumentFactory.create(title=title)
    DocumentFactory.create(title="theirs", tenant_id=TENANT_B)
    page = document_offset_page(filters={}, ordering="title", offset=2, limit=2, with_total=True)
    assert (titles(as_json(page.results)), page.total, page.has_next) == (["c", "d"], 5, True)
    last = document_offset_page(filters={}, ordering="title", offset=4, limit=2)
    assert (titles(as_json(last.results)), last.total, last.has_next) == (["e"], None, False)


def test_offset_page_filters_and_lists_deleted_documents_as_the_cursor_list_does() -> None:
    DocumentFactory.create(title="draft")
    DocumentFactory.create(title="published", status="published")
    DocumentFactory.create(title="gone").delete()
    published = document_offset_page(filters={"status": "published"}, ordering=None, offset=0, limit=10)
    assert titles(as_json(published.results)) == titles(listed(status="published")) == ["published"]
    deleted = document_offset_page(filters={}, ordering=None, offset=0, limit=10, deleted=True)
    assert titles(as_json(deleted.results)) == titles(listed(deleted=True)) == ["gone"]


# --- caching ---------------------------------------------------------------------------------------


@pytest.fixture
def own_tenant() -> Iterator[uuid.UUID]:
    """A tenant of this test only: the committed cache entries of a transactional test are its own."""
    tenant = uuid.uuid4()
    with in_tenant(tenant):
        yield tenant


@pytest.mark.django_db(transaction=True)  # commits, so the reads really fill the cache
def test_a_repeated_read_returns_the_same_data_without_a_query(
    own_tenant: uuid.UUID, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    document = DocumentFactory.create(tenant_id=own_tenant)
    detail, page = as_json(document_detail(document.pk)), listed()
    with django_assert_num_queries(0):
        assert as_json(document_detail(document.pk)) == detail
        assert listed() == page
    assert [row["id"] for row in page] == [detail["id"]]
