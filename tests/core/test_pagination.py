"""Cursor and offset pagination: complete, stable, null-safe, tamper-proof."""

from __future__ import annotations

import datetime
import itertools
import time

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from apps.core.errors import InvalidInput
from apps.core.pagination import Ordering, paginate_cursor, paginate_offset
from tests.factories import FolderFactory
from tests.testapp.models import Folder

pytestmark = pytest.mark.django_db
BASE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def walk(ordering: Ordering, limit: int) -> list[Folder]:
    """Every row, following next cursors from the first page."""
    seen: list[Folder] = []
    cursor = None
    for _ in range(1000):
        page = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=cursor, limit=limit)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def expected(ordering: Ordering) -> list[Folder]:
    from apps.core.pagination import _columns, _order_by

    return list(Folder.objects.order_by(*_order_by(_columns(Folder, ordering), reverse=False)))


def test_forward_pages_cover_every_row_once_in_order() -> None:
    for index in range(11):
        FolderFactory.create(name=f"f{index:02d}")
    ordering = Ordering.parse("-created_at", allowed=["created_at", "name"])
    assert walk(ordering, 4) == expected(ordering)
    assert [f.name for f in walk(Ordering.parse("name", allowed=["name"]), 3)] == [f"f{i:02d}" for i in range(11)]


def test_backward_pages_return_to_the_same_rows() -> None:
    FolderFactory.create_batch(7)
    ordering = Ordering.parse("name", allowed=["name"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    third = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=second.next_cursor, limit=3)
    assert (len(third.items), third.next_cursor) == (1, None)
    back = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=third.previous_cursor, limit=3)
    assert back.items == second.items
    front = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=back.previous_cursor, limit=3)
    assert front.items == first.items
    assert front.previous_cursor is None
    assert first.previous_cursor is None


def test_ties_on_the_ordering_field_are_broken_by_the_primary_key() -> None:
    same = timezone.now()
    folders = FolderFactory.create_batch(9)
    Folder.objects.update(due_at=same)
    ordering = Ordering.parse("due_at", allowed=["due_at"])
    assert [f.pk for f in walk(ordering, 2)] == sorted(f.pk for f in folders)


def test_nulls_are_neither_skipped_nor_repeated_in_either_direction() -> None:
    for index in range(10):
        folder = FolderFactory.create()
        if index % 3:
            Folder.objects.filter(pk=folder.pk).update(due_at=BASE + datetime.timedelta(days=index % 4))
    for spec in ("due_at", "-due_at"):
        ordering = Ordering.parse(spec, allowed=["due_at"])
        forward = walk(ordering, 3)
        assert forward == expected(ordering)
        # And backwards from the end, page by page.
        last = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
        pages = [last]
        while pages[-1].next_cursor:
            pages.append(
                paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=pages[-1].next_cursor, limit=3)
            )
        backward: list[Folder] = list(pages[-1].items)
        cursor = pages[-1].previous_cursor
        while cursor:
            page = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=cursor, limit=3)
            backward = list(page.items) + backward
            cursor = page.previous_cursor
        assert backward == forward


def test_rows_inserted_during_pagination_do_not_shift_pages() -> None:
    for index in range(6):
        FolderFactory.create(name=f"n{index}")
    ordering = Ordering.parse("name", allowed=["name"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    FolderFactory.create(name="a-new-first-row")
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    assert [f.name for f in second.items] == ["n3", "n4", "n5"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: "x" + c,
        lambda c: "not-a-cursor",
        lambda c: "",
    ],
)
def test_tampered_cursors_are_invalid_input(mangle: object) -> None:
    FolderFactory.create_batch(3)
    ordering = Ordering.parse("name", allowed=["name"])
    cursor = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=1).next_cursor
    assert cursor
    bad = mangle(cursor)  # type: ignore[operator]
    if not bad:
        assert paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=bad, limit=1).items
        return
    with pytest.raises(InvalidInput, match="cursor is invalid"):
        paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=bad, limit=1)


def test_a_cursor_for_another_ordering_is_refused() -> None:
    FolderFactory.create_batch(3)
    by_name = paginate_cursor(Folder.objects.all(), ordering=Ordering.parse("name", allowed=["name"]), limit=1)
    with pytest.raises(InvalidInput):
        paginate_cursor(
            Folder.objects.all(), ordering=Ordering.parse("-name", allowed=["name"]), cursor=by_name.next_cursor
        )


def test_unknown_ordering_fields_are_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput, match="Cannot order by password; choose from name, -name") as caught:
        Ordering.parse("password", allowed=["name"])
    assert caught.value.errors == {"ordering": ["Unknown ordering field: password"]}


def test_offset_pages_with_and_without_total() -> None:
    FolderFactory.create_batch(5)
    queryset = Folder.objects.order_by("name")
    page = paginate_offset(queryset, offset=3, limit=2, with_total=True)
    assert (len(page.items), page.total, page.has_next) == (2, 5, False)
    assert paginate_offset(queryset, offset=0, limit=2).total is None
    assert paginate_offset(queryset, offset=0, limit=2).has_next


def test_keyset_filter_is_a_row_comparison_the_index_can_range_scan(postgres: None) -> None:
    FolderFactory.create_batch(3)
    ordering = Ordering.parse("-created_at", allowed=["created_at"])
    cursor = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=1).next_cursor
    from apps.core.pagination import _apply_after, _columns, _decode

    columns = _columns(Folder, ordering)
    values, _ = _decode(Folder, ordering, columns, cursor or "")
    queryset = _apply_after(Folder.all_objects.all(), columns, values, reverse=False).order_by("-created_at", "-id")
    with connection.cursor() as db:
        # Tiny test tables favour other plans; disabling them asks whether the index range scan exists at all.
        db.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        sql, params = queryset[:10].query.sql_with_params()
        db.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in db.fetchall())
    assert any("Index Cond" in line and "ROW(created_at, id) <" in line for line in plan.splitlines()), plan
    assert "Sort" not in plan, plan


def test_pages_are_read_in_index_order_without_a_sort(postgres: None) -> None:
    """The ORDER BY paginate_cursor sends must match the index: `DESC NULLS LAST` on a NOT NULL
    column does not (a DESC index is NULLS FIRST), and would make every page sort the whole tenant."""
    from django.test.utils import CaptureQueriesContext

    FolderFactory.create_batch(3)
    ordering = Ordering.parse("-created_at", allowed=["created_at"])
    with CaptureQueriesContext(connection) as captured:
        first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=1)
        second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=1)
        paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=second.previous_cursor, limit=1)  # backward
    page_queries = [query["sql"] for query in captured.captured_queries if "ORDER BY" in query["sql"]]
    assert len(page_queries) == 3
    with connection.cursor() as db:
        db.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        for sql in page_queries:
            db.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in db.fetchall())
            assert "folder_created_keyset" in plan, plan
            assert "Sort" not in plan, plan


def page(ordering: Ordering, cursor: str | None = None, limit: int = 3) -> list[str]:
    return [f.name for f in paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=cursor, limit=limit).items]


def test_the_same_position_always_encodes_to_the_same_cursor() -> None:
    FolderFactory.create_batch(4)
    ordering = Ordering.parse("name", allowed=["name"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=2)
    time.sleep(1.05 - time.time() % 1)  # into the next second: a signing timestamp would differ now
    again = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=2)
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=again.next_cursor, limit=2)
    assert first.next_cursor is not None
    assert again.next_cursor == first.next_cursor
    replayed = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=2)
    assert second.previous_cursor == replayed.previous_cursor


def test_an_emptied_forward_page_still_links_back_from_its_cursor() -> None:
    """DRF's test_cursor_pagination_current_page_empty_forward: the rows after the cursor were deleted."""
    for index in range(6):
        FolderFactory.create(name=f"n{index}")
    ordering = Ordering.parse("name", allowed=["name"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    Folder.objects.filter(name__in=["n3", "n4", "n5"]).delete()
    emptied = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    assert (emptied.items, emptied.next_cursor) == ([], None)
    assert emptied.previous_cursor is not None, "a dead end: the way back is gone"
    back = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=emptied.previous_cursor, limit=3)
    assert [f.name for f in back.items] == ["n0", "n1"], "the rows before the cursor's position (n2)"
    assert page(ordering, back.next_cursor) == ["n2"], "and forward again, nothing skipped"


def test_an_emptied_backward_page_still_links_forward_from_its_cursor() -> None:
    """DRF's test_cursor_pagination_current_page_empty_reverse: the rows before the cursor were deleted."""
    for index in range(6):
        FolderFactory.create(name=f"n{index}")
    ordering = Ordering.parse("name", allowed=["name"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    Folder.objects.filter(name__in=["n0", "n1", "n2"]).delete()
    emptied = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=second.previous_cursor, limit=3)
    assert (emptied.items, emptied.previous_cursor) == ([], None)
    assert emptied.next_cursor is not None, "a dead end: the way forward is gone though rows follow"
    # As DRF: onward from the cursor's position (n3, shown on the page the client came from).
    assert page(ordering, emptied.next_cursor) == ["n4", "n5"]


def test_an_empty_list_has_no_cursors() -> None:
    page_of_nothing = paginate_cursor(Folder.objects.all(), ordering=Ordering.parse("name", allowed=["name"]))
    assert (page_of_nothing.items, page_of_nothing.next_cursor, page_of_nothing.previous_cursor) == ([], None, None)


# DRF's composite-ordering rows, (category, created) -> (status, due_at in days), nullable and mixed directions.
COMPOSITE = [("b", 40), ("a", 10), ("a", 20), ("c", 5), ("b", 10), ("a", 20), ("c", 15), ("a", 30), ("b", 10)]


def composite_folders() -> list[Folder]:
    return [
        FolderFactory.create(name=f"c{index}", status=status, due_at=BASE + datetime.timedelta(days=days))
        for index, (status, days) in enumerate(COMPOSITE)
    ]


@pytest.mark.parametrize("spec", ["status,-due_at", "-status,due_at"])
def test_mixed_directions_forward_backward_and_back_again(spec: str) -> None:
    """DRF's composite forward/backward/direction-change cases."""
    composite_folders()
    ordering = Ordering.parse(spec, allowed=["status", "due_at"])
    order = [f.name for f in expected(ordering)]
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    third = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=second.next_cursor, limit=3)
    assert [[f.name for f in p.items] for p in (first, second, third)] == [order[0:3], order[3:6], order[6:9]]
    assert third.next_cursor is None
    back = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=third.previous_cursor, limit=3)
    assert [f.name for f in back.items] == order[3:6]
    front = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=back.previous_cursor, limit=3)
    assert ([f.name for f in front.items], front.previous_cursor) == (order[0:3], None)
    assert page(ordering, front.next_cursor) == order[3:6], "turning round again: nothing repeated or missed"


def test_rows_inserted_and_deleted_on_both_sides_of_the_cursor_between_requests() -> None:
    """DRF's test_composite_pagination_with_concurrent_changes_forward/_backward."""
    folders = composite_folders()
    ordering = Ordering.parse("status,-due_at", allowed=["status", "due_at"])
    first = paginate_cursor(Folder.objects.all(), ordering=ordering, limit=3)
    boundary = first.items[-1]
    FolderFactory.create(name="before", status="a", due_at=BASE + datetime.timedelta(days=35))  # sorts first
    FolderFactory.create(name="after", status="d", due_at=None)  # sorts last (NULLs last)
    Folder.objects.filter(pk=first.items[0].pk).delete()  # already seen
    Folder.objects.filter(pk=folders[1].pk).delete()  # ("a", 10): not yet seen
    now = [f.name for f in expected(ordering)]
    rest = now[now.index(boundary.name) + 1 :]
    seen, cursor = [], first.next_cursor
    while cursor:
        current = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=cursor, limit=3)
        seen += [f.name for f in current.items]
        cursor = current.next_cursor
    assert seen == rest
    assert "after" in seen
    assert "before" not in seen
    assert folders[1].name not in seen
    second = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=first.next_cursor, limit=3)
    back = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=second.previous_cursor, limit=3)
    before_second = now[: now.index(second.items[0].name)]
    assert [f.name for f in back.items] == before_second[-3:]
    assert back.items[0].name == "before", "the row inserted before the cursor is reached going back"


class PaginationProperties(HypothesisTestCase):
    @settings(max_examples=15, deadline=None)
    @given(
        st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=3)), min_size=0, max_size=12),
        st.integers(min_value=1, max_value=5),
        st.sampled_from(["due_at", "-due_at", "name", "-name"]),
    )
    def test_any_data_any_page_size_visits_every_row_once(self, days: list[int | None], limit: int, spec: str) -> None:
        Folder.all_objects.all().hard_delete()
        for index, day in enumerate(days):
            Folder.objects.create(
                name=f"p{index % 4}-{index}",
                tenant_id="aaaaaaaa-0000-4000-8000-000000000001",
                due_at=None if day is None else BASE + datetime.timedelta(days=day),
            )
        ordering = Ordering.parse(spec, allowed=["due_at", "name"])
        visited = walk(ordering, limit)
        assert visited == expected(ordering)
        assert len({f.pk for f in visited}) == len(days)
        assert list(itertools.chain.from_iterable([visited])) == visited


def test_offset_ordering_breaks_ties_in_the_last_fields_direction() -> None:
    assert Ordering.parse("-created_at", allowed=["created_at"]).with_pk() == ("-created_at", "-pk")
    assert Ordering.parse("name,-due_at,name", allowed=["name", "due_at"]).with_pk()[-1] == "pk"
    assert Ordering.parse("title", allowed=["title"]).with_pk() == ("title", "pk")


def test_a_doubled_minus_is_not_an_ordering() -> None:
    with pytest.raises(InvalidInput, match="Cannot order by --name"):
        Ordering.parse("--name", allowed=["name"])


def test_an_emptied_page_links_back_on_the_json_path_too() -> None:
    """The documents list renders its rows as JSON (`paginate_cursor_json`): the same cursors."""
    import orjson

    from apps.core.json_rows import paginate_cursor_json
    from apps.documents.api.serializers import DOCUMENT
    from apps.documents.models import Document

    tenant = "aaaaaaaa-0000-4000-8000-000000000001"
    for index in range(4):
        Document.objects.create(tenant_id=tenant, title=f"d{index}")
    ordering = Ordering.parse("title", allowed=["title"])

    def titles_of(cursor: str | None) -> tuple[list[str], str | None, str | None]:
        page = paginate_cursor_json(Document.objects.all(), shape=DOCUMENT, ordering=ordering, cursor=cursor, limit=2)
        return [row["title"] for row in orjson.loads(page.results)], page.next_cursor, page.previous_cursor

    first, next_cursor, _ = titles_of(None)
    Document.objects.filter(title__in=["d2", "d3"]).delete()
    emptied, after, before = titles_of(next_cursor)
    assert (first, emptied, after) == (["d0", "d1"], [], None)
    assert before is not None
    assert titles_of(before)[0] == ["d0"]
