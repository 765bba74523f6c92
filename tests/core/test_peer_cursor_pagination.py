"""DRF's CursorPagination test cases, carried over to `apps.core.pagination.paginate_cursor`.

DRF answers a bad cursor with 404; a cursor here is input, so every kind of bad cursor is
`InvalidInput` (a 400 problem through the API), never a 500 and never a wrong page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from django.db.models import QuerySet

from apps.core.errors import InvalidInput
from apps.core.pagination import Ordering, _signer, paginate_cursor
from tests.factories import FolderFactory, NoteFactory
from tests.testapp.models import Folder, Note

pytestmark = pytest.mark.django_db
BY_NAME = Ordering.parse("name", allowed=["name", "status"])


def names(rows: list[Folder]) -> list[str]:
    return [row.name for row in rows]


def walk_forward(queryset: Callable[[], QuerySet[Folder]], ordering: Ordering, limits: list[int]) -> list[str]:
    """Every row following next cursors, the page size changing from request to request."""
    seen: list[str] = []
    cursor = None
    for request in range(100):
        page = paginate_cursor(queryset(), ordering=ordering, cursor=cursor, limit=limits[request % len(limits)])
        seen += names(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def walk_backward(ordering: Ordering, limits: list[int]) -> list[str]:
    """From the last page back to the first, following previous cursors."""
    cursor = None
    while True:  # reach the end first
        page = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=cursor, limit=limits[0])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    seen = names(page.items)
    for request in range(100):
        if page.previous_cursor is None:
            return seen
        limit = limits[request % len(limits)]
        page = paginate_cursor(Folder.objects.all(), ordering=ordering, cursor=page.previous_cursor, limit=limit)
        seen = names(page.items) + seen
    raise AssertionError("pagination did not end")


@pytest.fixture
def ten_folders() -> list[str]:
    return [FolderFactory.create(name=f"f{index:02d}").name for index in range(10)]


@pytest.mark.parametrize("limits", [[1], [3], [4, 1, 7], [10], [11], [2, 9]])
def test_page_size_changing_between_requests_neither_skips_nor_repeats(
    ten_folders: list[str], limits: list[int]
) -> None:
    assert walk_forward(Folder.objects.all, BY_NAME, limits) == ten_folders
    assert walk_backward(BY_NAME, limits) == ten_folders


def test_a_reversed_ordering_pages_the_same_rows_in_reverse(ten_folders: list[str]) -> None:
    reversed_order = Ordering.parse("-name", allowed=["name"])
    assert walk_forward(Folder.objects.all, reversed_order, [3]) == ten_folders[::-1]
    assert walk_backward(reversed_order, [4]) == ten_folders[::-1]


def test_ties_on_every_row_page_by_key_both_ways() -> None:
    """DRF's duplicate-position cases: every row holds the same ordering value."""
    FolderFactory.create_batch(9)  # all status "draft"
    by_status = Ordering.parse("status", allowed=["status"])
    expected = [folder.name for folder in Folder.objects.order_by("pk")]
    assert walk_forward(Folder.objects.all, by_status, [2]) == expected
    assert walk_backward(by_status, [4, 1]) == expected


@pytest.mark.parametrize("removal", ["delete", "hard_delete"])
def test_the_row_a_cursor_stands_on_removed_between_requests(ten_folders: list[str], removal: str) -> None:
    first = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, limit=3)
    boundary = Folder.objects.get(name="f02")
    getattr(boundary, removal)()
    second = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, cursor=first.next_cursor, limit=3)
    assert names(second.items) == ["f03", "f04", "f05"]
    back = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, cursor=second.previous_cursor, limit=3)
    assert names(back.items) == ["f00", "f01"]
    assert back.previous_cursor is None


def test_a_row_deleted_on_the_next_page_is_not_served(ten_folders: list[str]) -> None:
    first = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, limit=3)
    Folder.objects.filter(name__in=["f03", "f05"]).delete()
    second = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, cursor=first.next_cursor, limit=3)
    assert names(second.items) == ["f04", "f06", "f07"]
    # The trash pages with the same rules: a cursor of the alive list is a position, not a row.
    trash = paginate_cursor(Folder.deleted_objects.all(), ordering=BY_NAME, cursor=first.next_cursor, limit=3)
    assert names(trash.items) == ["f03", "f05"]


def _signed(payload: object) -> str:
    return _signer(Folder, BY_NAME).sign_object(payload)


def _next_cursor() -> str:
    cursor = paginate_cursor(Folder.objects.all(), ordering=BY_NAME, limit=1).next_cursor
    assert cursor is not None
    return cursor


BAD_CURSORS: dict[str, Callable[[], str]] = {
    "not base64": lambda: "%%%not base64%%%",
    "no signature": lambda: _next_cursor().split(":")[0],
    "empty signature": lambda: _next_cursor().split(":")[0] + ":",
    "wrong signature": lambda: _next_cursor().split(":")[0] + ":" + "A" * 27,
    "payload swapped under a valid signature": lambda: (
        base64.urlsafe_b64encode(b'{"v":["zz",null],"d":"next"}').decode().rstrip("=")
        + ":"
        + _next_cursor().split(":")[1]
    ),
    "another model": lambda: _signer(Note, BY_NAME).sign_object(
        {"v": ["f00", str(NoteFactory.create().pk)], "d": "next"}
    ),
    "another ordering": lambda: _signer(Folder, Ordering(("-name",))).sign_object({"v": ["f00", None], "d": "next"}),
    "a list, not an object": lambda: _signed(["f00"]),
    "a number": lambda: _signed(7),
    "values not a list": lambda: _signed({"v": 7, "d": "next"}),
    "too few values": lambda: _signed({"v": ["f00"], "d": "next"}),
    "too many values": lambda: _signed({"v": ["f00", "x", "y"], "d": "next"}),
    "a key that is no UUID": lambda: _signed({"v": ["f00", "not-a-uuid"], "d": "next"}),
    "a key of the wrong type": lambda: _signed({"v": ["f00", {"a": 1}], "d": "next"}),
    "unknown direction": lambda: _signed({"v": ["f00", "aaaaaaaa-0000-4000-8000-000000000001"], "d": "up"}),
    "no direction": lambda: _signed({"v": ["f00", "aaaaaaaa-0000-4000-8000-000000000001"]}),
    "NUL": lambda: "\x00" + _next_cursor(),
    "unicode": lambda: "curseur-é-🚀",
    "very long": lambda: "A" * 100_000,
}


@pytest.mark.parametrize("kind", list(BAD_CURSORS))
def test_every_kind_of_bad_cursor_is_invalid_input(ten_folders: list[str], kind: str) -> None:
    cursor = BAD_CURSORS[kind]()
    with pytest.raises(InvalidInput, match="cursor is invalid") as raised:
        paginate_cursor(Folder.objects.all(), ordering=BY_NAME, cursor=cursor, limit=3)
    assert raised.value.errors is not None
    assert "cursor" in raised.value.errors
