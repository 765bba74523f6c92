"""The upsert stamps through the mixins' hooks (`stamp_for_create`, `update_stamps`), as every write path does."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from apps.core.context import acting_as
from apps.core.upsert import upsert_rows
from tests.testapp.models import Counter

pytestmark = pytest.mark.django_db

FIXED = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_inserted_rows_get_the_creation_hooks_stamps_and_updated_rows_the_update_hooks() -> None:
    with acting_as("script:first"):
        upsert_rows(Counter, [{"key": "a", "value": 1}], conflict_fields=["key"], update_fields=["value"])
    with acting_as("script:second"):
        upsert_rows(Counter, [{"key": "a", "value": 2}, {"key": "b"}], conflict_fields=["key"], update_fields=["value"])
    a, b = Counter.objects.order_by("key")
    assert (a.value, a.created_by, a.updated_by) == (2, "script:first", "script:second")
    assert a.updated_at > a.created_at
    assert (b.created_by, b.updated_by) == ("script:second", "script:second")
    assert b.created_at == b.updated_at, "one stamp_for_create() call: one instant"


def test_a_creation_stamp_a_row_gives_is_kept_as_a_save_keeps_it() -> None:
    with acting_as("script:seed"):
        upsert_rows(
            Counter,
            [{"key": "imported", "created_by": "legacy:import"}, {"key": "new"}],
            conflict_fields=["key"],
            update_fields=["value"],
        )
    assert dict(Counter.objects.values_list("key", "created_by")) == {"imported": "legacy:import", "new": "script:seed"}


def test_the_update_stamps_are_whatever_the_models_hook_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    upsert_rows(Counter, [{"key": "a"}], conflict_fields=["key"], update_fields=["value"])

    def update_stamps(cls: type[Counter]) -> dict[str, Any]:
        return {"updated_at": FIXED, "updated_by": "the hook"}

    monkeypatch.setattr(Counter, "update_stamps", classmethod(update_stamps))
    upsert_rows(Counter, [{"key": "a", "value": 5}], conflict_fields=["key"], update_fields=["value"])
    assert Counter.objects.values_list("value", "updated_at", "updated_by").get() == (5, FIXED, "the hook")
