"""Runs the service example of docs/caching.md, exactly as written, on a small in-memory repository."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from apps.core.errors import NotFound

DOC = Path(__file__).resolve().parents[2] / "docs" / "caching.md"


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"snippet {name} not found in {DOC}"
    return match.group(1)


@dataclass
class Row:
    id: int
    title: str


class Repository:
    """Test-only stand-in for the app's BaseRepository: counts reads."""

    def __init__(self) -> None:
        self.rows = {1: Row(1, "one"), 2: Row(2, "two")}
        self.reads = 0

    def get_or_raise(self, pk: int) -> Row:
        self.reads += 1
        if pk not in self.rows:
            raise NotFound(f"document {pk}")
        return Row(**vars(self.rows[pk]))

    def list(self, *, page: int) -> list[Row]:
        self.reads += 1
        return [Row(**vars(row)) for row in self.rows.values()]

    def update(self, pk: int, **fields: Any) -> Row:
        for name, value in fields.items():
            setattr(self.rows[pk], name, value)
        return self.rows[pk]


@pytest.mark.usefixtures("namespace")
@pytest.mark.django_db(transaction=True)
def test_the_documented_service_caches_reads_and_invalidates_on_write() -> None:
    repository = Repository()
    # A real module, so the snippet's dataclass pickles like one defined in apps/documents/services.py.
    module = types.ModuleType("docs_caching_example")
    module.repository = repository  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        exec(compile(snippet("document-service"), str(DOC), "exec"), module.__dict__)
        _exercise(module.__dict__, repository)
    finally:
        del sys.modules[module.__name__]


def _exercise(service: dict[str, Any], repository: Repository) -> None:

    detail, listing, update = service["document_detail"], service["document_list"], service["document_update"]
    assert detail(1).title == "one"
    assert [d.title for d in listing()] == ["one", "two"]
    assert detail(1).title == "one"
    assert [d.title for d in listing()] == ["one", "two"]
    assert repository.reads == 2  # the second reads were hits

    update(document_id=1, title="uno")
    assert detail(1).title == "uno"
    assert [d.title for d in listing()] == ["uno", "two"]
    assert detail(2).title == "two"
    assert repository.reads == 5  # detail 1 and the list were invalidated, detail 2 was new

    # A write that rolls back leaves the cache alone.
    def write_then_fail() -> None:
        with transaction.atomic():
            service["invalidate_tags"](["documents:all"])
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        write_then_fail()
    listing()
    assert repository.reads == 5

    with pytest.raises(NotFound):
        detail(99)


@pytest.mark.usefixtures("namespace")
@pytest.mark.django_db(transaction=True)
def test_the_documented_read_your_writes_example() -> None:
    from django.contrib.auth.models import User

    from apps.caching import cache_key
    from apps.caching.store import get_store

    service: dict[str, Any] = {"__name__": "docs_caching_read_your_writes"}
    exec(compile(snippet("read-your-writes"), str(DOC), "exec"), service)
    pk = User.objects.create(username="ann", first_name="Ann").pk
    assert service["user_name"](pk) == "Ann"  # cached
    assert service["user_rename"](pk=pk, name="Anna") == "Anna"
    assert get_store().get(cache_key("user-name", pk)) is None  # invalidated at commit
    assert service["user_name"](pk) == "Anna"


def test_the_documented_glob_dialect() -> None:
    exec(compile(snippet("glob-dialect"), str(DOC), "exec"), {})
