"""Rows rendered in an output serializer's shape: DRF's `to_representation`, byte for byte, and unchanged cursors."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest
from django.db.models import Count
from rest_framework import serializers

from apps.core.api.renderers import render_json
from apps.core.errors import InvalidInput
from apps.core.json_rows import OutputShape, paginate_cursor_json, paginate_offset_json
from apps.core.pagination import Ordering, paginate_cursor
from tests.factories import FolderFactory
from tests.testapp.models import Folder

pytestmark = pytest.mark.django_db

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
    datetime.datetime(2026, 11, 26, 11, 5, 42, tzinfo=UTC),  # no fraction: neither writes one
    datetime.datetime(2026, 1, 2, 3, 4, 5, 100, tzinfo=UTC),  # ".000100", not ".0001"
    datetime.datetime(2026, 6, 1, 23, 30, 0, 500000, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
    datetime.datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),  # four-digit year
    None,
]


class FolderOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["draft", "done"])
    due_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField()


FOLDER = OutputShape(FolderOutput)


def make_folder(**fields: Any) -> Folder:
    return FolderFactory.create(**fields)


def tricky_folders() -> list[Folder]:
    parent = make_folder(name="parent")
    folders = [parent]
    for index, name in enumerate(NAMES):
        folder = make_folder(name=name, parent=parent if index % 2 else None)
        Folder.objects.filter(pk=folder.pk).update(due_at=DUE[index % len(DUE)])
        folders.append(folder)
    # A created_at without microseconds, to check the ordering column's rendering too.
    Folder.objects.filter(pk=parent.pk).update(created_at=datetime.datetime(2026, 3, 3, 3, 3, 3, tzinfo=UTC))
    return folders


def as_drf_renders(folders: Any) -> bytes:
    """What DRF's serializer gives for the rows, through the API's renderer: the declaration's meaning."""
    return render_json(FolderOutput(list(folders), many=True).data)


def test_a_row_of_the_shape_is_what_the_serializer_represents() -> None:
    tricky_folders()
    folders = list(Folder.objects.order_by("name"))
    assert FOLDER.render(
        FOLDER.rows(Folder.objects.all(), FOLDER.values(Folder.objects.order_by("name")))
    ) == as_drf_renders(folders)
    assert FOLDER.render(FOLDER.of(folder) for folder in folders) == as_drf_renders(folders)
    rendered = {
        row["name"]: row["due_at"]
        for row in orjson.loads(FOLDER.render(FOLDER.rows(Folder.objects.all(), FOLDER.values(Folder.objects.all()))))
    }
    assert rendered[NAMES[1]] == "2026-11-26T11:05:42Z"
    assert rendered[NAMES[2]] == "2026-01-02T03:04:05.000100Z"
    assert rendered[NAMES[3]] == "2026-06-01T18:00:00.500000Z"  # in UTC
    assert rendered[NAMES[4]] == "0001-01-01T00:00:01Z"
    assert rendered[NAMES[5]] is None


def every_page(ordering: Ordering, limit: int) -> tuple[list[bytes], list[list[Any]], list[tuple[Any, Any]]]:
    """Walk forward with both: (json pages, dict pages, [(json cursors, dict cursors)])."""
    json_pages, dict_pages, cursors = [], [], []
    json_cursor = dict_cursor = None
    for _ in range(50):
        json_page = paginate_cursor_json(
            Folder.objects.all(), shape=FOLDER, ordering=ordering, cursor=json_cursor, limit=limit
        )
        dict_page = paginate_cursor(
            Folder.objects.values(*FOLDER.fields), ordering=ordering, cursor=dict_cursor, limit=limit
        )
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
    tricky_folders()
    json_pages, dict_pages, cursors = every_page(Ordering(ordering), limit=3)
    assert len(json_pages) == 3  # 8 rows, 3 a page
    for json_page, dict_page in zip(json_pages, dict_pages, strict=True):
        assert json_page == render_json(dict_page)
    for from_json, from_dicts in cursors:
        assert from_json == from_dicts


def test_an_ordering_field_outside_the_shape_still_makes_cursors_and_is_not_rendered() -> None:
    class NameOnly(serializers.Serializer[Any]):
        name = serializers.CharField()

    shape = OutputShape(NameOnly)
    tricky_folders()
    ordering = Ordering(("-due_at", "-name"))
    first = paginate_cursor_json(Folder.objects.all(), shape=shape, ordering=ordering, limit=3)
    rows = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=6).items
    assert orjson.loads(first.results) == [{"name": folder.name} for folder in rows[:3]]
    second = paginate_cursor_json(Folder.objects.all(), shape=shape, ordering=ordering, cursor=first.next_cursor)
    assert orjson.loads(second.results)[:3] == [{"name": folder.name} for folder in rows[3:6]]


def test_backward_pages_from_a_json_cursor() -> None:
    tricky_folders()
    ordering = Ordering(("name",))
    first = paginate_cursor_json(Folder.objects.all(), shape=FOLDER, ordering=ordering, limit=3)
    second = paginate_cursor_json(
        Folder.objects.all(), shape=FOLDER, ordering=ordering, cursor=first.next_cursor, limit=3
    )
    assert second.previous_cursor is not None
    back = paginate_cursor_json(
        Folder.objects.all(), shape=FOLDER, ordering=ordering, cursor=second.previous_cursor, limit=3
    )
    assert back == first


def test_an_offset_page_is_the_shape_of_the_ordered_rows() -> None:
    tricky_folders()
    ordered = Folder.objects.order_by("name", "pk")
    page = paginate_offset_json(ordered, shape=FOLDER, offset=2, limit=3, with_total=True)
    assert page.results == as_drf_renders(list(ordered)[2:5])
    assert (page.offset, page.limit, page.total, page.has_next) == (2, 3, 8, True)


class _Float(serializers.Serializer[Any]):
    weight = serializers.FloatField()  # orjson and DRF write some floats differently


class _Method(serializers.Serializer[Any]):
    name = serializers.SerializerMethodField()


class _Dotted(serializers.Serializer[Any]):
    parent_name = serializers.CharField(source="parent.name")


class _Related(serializers.Serializer[Any]):
    labels = serializers.PrimaryKeyRelatedField[Any](many=True, read_only=True)


class _Formatted(serializers.Serializer[Any]):
    created_at = serializers.DateTimeField(format="%d/%m/%Y")


@pytest.mark.parametrize("serializer_class", [_Float, _Method, _Dotted, _Related, _Formatted])
def test_fields_without_an_identical_rendering_are_refused(serializer_class: type[serializers.Serializer[Any]]) -> None:
    with pytest.raises(TypeError, match=serializer_class.__name__):
        OutputShape(serializer_class)


def test_datetimes_are_refused_outside_utc(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"  # DRF would write +01:00 offsets, orjson the value's own
    with pytest.raises(TypeError, match=r"due_at \(DateTimeField\)"):
        OutputShape(FolderOutput)


def test_an_empty_page_is_an_empty_array() -> None:
    page = paginate_cursor_json(Folder.objects.none(), shape=FOLDER, ordering=Ordering(("name",)))
    assert (page.results, page.next_cursor, page.previous_cursor) == (b"[]", None, None)


def test_a_tampered_cursor_is_refused_as_with_paginate_cursor() -> None:
    FolderFactory.create_batch(3)
    page = paginate_cursor_json(Folder.objects.all(), shape=FOLDER, ordering=Ordering(("name",)), limit=1)
    assert page.next_cursor
    with pytest.raises(InvalidInput):
        paginate_cursor_json(
            Folder.objects.all(), shape=FOLDER, ordering=Ordering(("name",)), cursor=page.next_cursor + "x"
        )


@pytest.mark.parametrize(
    "make_queryset",
    [
        lambda: Folder.objects.filter(status="draft").exclude(name=""),
        Folder.all_objects.all,
        lambda: Folder.objects.filter(parent__name="parent"),
        lambda: Folder.objects.annotate(children=Count("subfolders")),
    ],
    ids=["filters", "unfiltered", "join", "annotation"],
)
def test_filtered_joined_and_annotated_querysets_page_like_paginate_cursor(make_queryset: Any) -> None:
    tricky_folders()
    ordering = Ordering(("-created_at",))
    json_cursor = dict_cursor = None
    for _ in range(10):
        json_page = paginate_cursor_json(make_queryset(), shape=FOLDER, ordering=ordering, cursor=json_cursor, limit=2)
        dict_page = paginate_cursor(
            make_queryset().values(*FOLDER.fields), ordering=ordering, cursor=dict_cursor, limit=2
        )
        assert json_page.results == render_json(dict_page.items)
        assert (json_page.next_cursor, json_page.previous_cursor) == (dict_page.next_cursor, dict_page.previous_cursor)
        json_cursor, dict_cursor = json_page.next_cursor, dict_page.next_cursor
        if json_cursor is None:
            return
    raise AssertionError("pagination did not end")


def test_a_page_is_one_query_whatever_its_size(django_assert_num_queries: Any) -> None:
    FolderFactory.create_batch(12)
    for limit in (2, 10):
        with django_assert_num_queries(1):
            page = paginate_cursor_json(Folder.objects.all(), shape=FOLDER, ordering=Ordering(("name",)), limit=limit)
        assert len(orjson.loads(page.results)) == limit
