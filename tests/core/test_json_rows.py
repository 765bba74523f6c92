"""Cursor pages rendered as JSON: PostgreSQL's text is orjson's, byte for byte, and the cursors are unchanged."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import orjson
import pytest
from django.db.models import Count

from apps.core.api.renderers import render_json
from apps.core.json_rows import json_object, paginate_cursor_json, renders_in_database
from apps.core.pagination import Ordering, paginate_cursor
from tests.factories import FolderFactory
from tests.testapp.models import Folder

pytestmark = pytest.mark.django_db

FIELDS = ("id", "name", "status", "due_at", "parent", "created_at", "updated_at", "created_by")
UTC = datetime.UTC
# Strings whose JSON escaping differs most: quotes, backslashes, controls, non-ASCII, HTML.
NAMES = [
    'say "hi"',
    "back\\slash and / slash",
    "line\nbreak\ttab\rreturn\x08\x0c",
    "control \x01\x1f\x7f",
    "unicode é ✓ 😀 \u2028",
    "</script><b>&amp;",
    "",
]
DUE = [
    datetime.datetime(2026, 11, 26, 11, 5, 42, 705439, tzinfo=UTC),
    datetime.datetime(2026, 11, 26, 11, 5, 42, tzinfo=UTC),  # no fraction: orjson writes none
    datetime.datetime(2026, 1, 2, 3, 4, 5, 100, tzinfo=UTC),  # ".000100", not ".0001"
    datetime.datetime(2026, 6, 1, 23, 30, 0, 500000, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
    datetime.datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),  # four-digit year
    None,
]


def tricky_folders() -> list[Folder]:
    parent = FolderFactory.create(name="parent")
    folders = [parent]
    for index, name in enumerate(NAMES):
        folder = FolderFactory.create(name=name, parent=parent if index % 2 else None)
        Folder.objects.filter(pk=folder.pk).update(due_at=DUE[index % len(DUE)])
        folders.append(folder)
    # A created_at without microseconds, to check the ordering column's rendering too.
    Folder.objects.filter(pk=parent.pk).update(created_at=datetime.datetime(2026, 3, 3, 3, 3, 3, tzinfo=UTC))
    return folders


def every_page(ordering: Ordering, limit: int) -> tuple[list[bytes], list[list[Any]], list[tuple[Any, Any]]]:
    """Walk forward with both implementations: (json pages, dict pages, [(json cursors, dict cursors)])."""
    json_pages, dict_pages, cursors = [], [], []
    json_cursor = dict_cursor = None
    for _ in range(50):
        json_page = paginate_cursor_json(
            Folder.objects.all(), fields=FIELDS, ordering=ordering, cursor=json_cursor, limit=limit
        )
        dict_page = paginate_cursor(Folder.objects.values(*FIELDS), ordering=ordering, cursor=dict_cursor, limit=limit)
        json_pages.append(json_page.results)
        dict_pages.append(dict_page.items)
        cursors.append(
            ((json_page.next_cursor, json_page.previous_cursor), (dict_page.next_cursor, dict_page.previous_cursor))
        )
        json_cursor, dict_cursor = json_page.next_cursor, dict_page.next_cursor
        if json_cursor is None:
            return json_pages, dict_pages, cursors
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("ordering", [("-created_at",), ("name",), ("due_at",), ("-due_at", "-name")])
def test_pages_and_cursors_are_those_of_paginate_cursor(ordering: tuple[str, ...]) -> None:
    """On every backend: the same rows in the same order, rendered as the API renders them, the same cursors."""
    tricky_folders()
    json_pages, dict_pages, cursors = every_page(Ordering(ordering), limit=3)
    assert len(json_pages) == 3  # 8 rows, 3 a page
    for json_page, dict_page in zip(json_pages, dict_pages, strict=True):
        assert orjson.loads(json_page) == orjson.loads(render_json(dict_page))
        # Byte for byte: no JSON column here, so not even whitespace differs.
        assert json_page == render_json(dict_page)
    for from_json, from_dicts in cursors:
        assert from_json == from_dicts


def test_backward_pages_from_a_json_cursor(postgres: None) -> None:
    tricky_folders()
    ordering = Ordering(("name",))
    first = paginate_cursor_json(Folder.objects.all(), fields=FIELDS, ordering=ordering, limit=3)
    second = paginate_cursor_json(
        Folder.objects.all(), fields=FIELDS, ordering=ordering, cursor=first.next_cursor, limit=3
    )
    assert second.previous_cursor is not None
    back = paginate_cursor_json(
        Folder.objects.all(), fields=FIELDS, ordering=ordering, cursor=second.previous_cursor, limit=3
    )
    assert back == first


def test_postgresql_renders_datetimes_like_orjson_utc_z(postgres: None) -> None:
    assert renders_in_database(Folder.objects.all())
    tricky_folders()
    rendered = {
        row["name"]: row["due_at"]
        for row in map(orjson.loads, Folder.objects.values_list(json_object(Folder, ["name", "due_at"]), flat=True))
    }
    assert rendered[NAMES[0]] == "2026-11-26T11:05:42.705439Z"
    assert rendered[NAMES[1]] == "2026-11-26T11:05:42Z"
    assert rendered[NAMES[2]] == "2026-01-02T03:04:05.000100Z"
    assert rendered[NAMES[3]] == "2026-06-01T18:00:00.500000Z"  # converted to UTC
    assert rendered[NAMES[4]] == "0001-01-01T00:00:01Z"
    assert rendered[NAMES[5]] is None


def test_json_object_keeps_the_field_order_and_escapes_strings(postgres: None) -> None:
    folder = FolderFactory.create(name=NAMES[2] + NAMES[4] + NAMES[0])
    text = Folder.objects.filter(pk=folder.pk).values_list(json_object(Folder, ["status", "name", "id"]), flat=True)
    assert text.get() == render_json({"status": "draft", "name": folder.name, "id": uuid.UUID(str(folder.pk))}).decode()


def test_columns_without_an_identical_rendering_are_refused() -> None:
    with pytest.raises(TypeError, match="labels"):
        json_object(Folder, ["labels"])  # many-to-many: not a column


def test_an_empty_page_is_an_empty_array() -> None:
    page = paginate_cursor_json(Folder.objects.none(), fields=FIELDS, ordering=Ordering(("name",)))
    assert (page.results, page.next_cursor, page.previous_cursor) == (b"[]", None, None)


def test_a_tampered_cursor_is_refused_as_with_paginate_cursor() -> None:
    from apps.core.errors import InvalidInput

    FolderFactory.create_batch(3)
    page = paginate_cursor_json(Folder.objects.all(), fields=FIELDS, ordering=Ordering(("name",)), limit=1)
    assert page.next_cursor
    with pytest.raises(InvalidInput):
        paginate_cursor_json(
            Folder.objects.all(), fields=FIELDS, ordering=Ordering(("name",)), cursor=page.next_cursor + "x"
        )


@pytest.mark.parametrize(
    "make_queryset",
    [
        lambda: Folder.objects.filter(status="draft").exclude(name=""),  # filters only: our own SQL
        Folder.all_objects.all,  # no filter at all: our own SQL without WHERE
        lambda: Folder.objects.filter(parent__name="parent"),  # a join: the ORM reads it
        lambda: Folder.objects.annotate(children=Count("subfolders")),  # an annotation: the ORM reads it
    ],
    ids=["filters", "unfiltered", "join", "annotation"],
)
def test_filtered_joined_and_annotated_querysets_page_like_paginate_cursor(make_queryset: Any) -> None:
    tricky_folders()
    ordering = Ordering(("-created_at",))
    json_cursor = dict_cursor = None
    for _ in range(10):
        json_page = paginate_cursor_json(make_queryset(), fields=FIELDS, ordering=ordering, cursor=json_cursor, limit=2)
        dict_page = paginate_cursor(make_queryset().values(*FIELDS), ordering=ordering, cursor=dict_cursor, limit=2)
        assert json_page.results == render_json(dict_page.items)
        assert (json_page.next_cursor, json_page.previous_cursor) == (dict_page.next_cursor, dict_page.previous_cursor)
        json_cursor, dict_cursor = json_page.next_cursor, dict_page.next_cursor
        if json_cursor is None:
            return
    raise AssertionError("pagination did not end")


def test_a_page_is_one_query_whatever_its_size(postgres: None, django_assert_num_queries: Any) -> None:
    FolderFactory.create_batch(12)
    for limit in (2, 10):
        with django_assert_num_queries(1):
            page = paginate_cursor_json(Folder.objects.all(), fields=FIELDS, ordering=Ordering(("name",)), limit=limit)
        assert len(orjson.loads(page.results)) == limit
