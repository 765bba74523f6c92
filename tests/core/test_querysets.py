"""Managers and querysets: `from_queryset()` keeps the custom queryset and the alive/deleted rules; every
verb acts on exactly the rows its queryset shows; visibility survives `|`, `&`, `^` and subqueries."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import pytest
from django.db import models
from django.db.models import Exists, OuterRef, Subquery
from django.test.utils import isolate_apps

from apps.core.context import in_tenant
from apps.core.models import SoftDeleteMixin
from apps.core.querysets import (
    AliveManager,
    AllObjectsManager,
    CoreManager,
    CoreQuerySet,
    DeletedManager,
    SoftDeleteQuerySet,
)
from tests.factories import TENANT_A
from tests.testapp.models import Folder, Note


class PublishedQuerySet(SoftDeleteQuerySet[Any]):
    def published(self) -> PublishedQuerySet:
        return self.filter(status="published")


class CountedQuerySet(CoreQuerySet[Any]):
    def big(self) -> CountedQuerySet:
        return self.filter(value__gt=100)


def _where(queryset: models.QuerySet[Any]) -> str:
    return str(queryset.query).partition(" WHERE ")[2]


# At module level, where django-stubs types a from_queryset() class by its queryset.
PublishedAliveManager = AliveManager.from_queryset(PublishedQuerySet)
PublishedAllObjectsManager = AllObjectsManager.from_queryset(PublishedQuerySet)
PublishedDeletedManager = DeletedManager.from_queryset(PublishedQuerySet)
CountedManager = CoreManager.from_queryset(CountedQuerySet)


@isolate_apps("tests.testapp")
def test_soft_delete_managers_use_the_queryset_class_they_were_built_from() -> None:
    class Article(SoftDeleteMixin):
        status = models.CharField(max_length=20)

        objects = PublishedAliveManager()
        all_objects = PublishedAllObjectsManager()
        deleted_objects = PublishedDeletedManager()

        class Meta:
            app_label = "testapp"

    alive = Article.objects.published()
    assert isinstance(alive, PublishedQuerySet)
    assert '"deleted_at" IS NULL' in _where(alive), "the alive restriction stays"
    assert '"status" = published' in _where(alive)
    assert '"deleted_at" IS NOT NULL' in _where(Article.deleted_objects.published())
    assert "deleted_at" not in _where(Article.all_objects.published())
    assert "deleted_at" not in _where(Article.objects.published().with_deleted())


@isolate_apps("tests.testapp")
def test_core_manager_uses_the_queryset_class_it_was_built_from() -> None:
    class Counter(models.Model):  # noqa: DJ008 - never printed
        value = models.IntegerField()

        objects: ClassVar[CountedManager[Any]] = CountedManager()  # a model django-stubs does not see (isolate_apps)

        class Meta:
            app_label = "testapp"

    assert isinstance(Counter.objects.big(), CountedQuerySet)
    assert isinstance(CoreManager().get_queryset(), CoreQuerySet), "the default stays CoreQuerySet"


# --- every verb on every manager acts on exactly the rows that manager's queryset shows ------------

ROWS = ("alive-a", "alive-b", "dead-a", "dead-b")
ALIVE, DEAD = {"alive-a", "alive-b"}, {"dead-a", "dead-b"}


def _managers(root: Folder) -> dict[str, Any]:
    return {
        "objects": Folder.objects,
        "all_objects": Folder.all_objects,
        "deleted_objects": Folder.deleted_objects,
        "related": root.subfolders,  # a related manager: alive rows of one parent
    }


def _apply(verb: str, queryset: Any) -> None:
    if verb == "update":
        queryset.update(status="touched")
    elif verb == "restore whole batches":
        queryset.restore(whole_batches=True)
    else:
        getattr(queryset, verb)()


def _state() -> dict[str, tuple[bool, str]]:
    return {
        name: (deleted_at is not None, status)
        for name, deleted_at, status in Folder.all_objects.filter(name__in=ROWS).values_list(
            "name", "deleted_at", "status"
        )
    }


SHOWN = {"objects": ALIVE, "all_objects": ALIVE | DEAD, "deleted_objects": DEAD, "related": ALIVE}
ACTS_ON = {
    "delete": ALIVE,
    "restore": DEAD,
    "restore whole batches": DEAD,
    "hard_delete": ALIVE | DEAD,
    "update": ALIVE | DEAD,
}
CALLER_FILTERS = {"every row": {"name__in": ROWS}, "the -a rows": {"name__endswith": "-a"}}


@pytest.mark.django_db
@pytest.mark.parametrize("caller_filter", list(CALLER_FILTERS))
@pytest.mark.parametrize("verb", list(ACTS_ON))
@pytest.mark.parametrize("manager", list(SHOWN))
def test_a_verb_touches_exactly_the_rows_its_queryset_shows(manager: str, verb: str, caller_filter: str) -> None:
    with in_tenant(TENANT_A):
        root = Folder.objects.create(name="root")
        for name in ROWS:
            Folder.objects.create(name=name, parent=root)
    for name in DEAD:  # one delete call each: a whole batch is then that one row
        Folder.objects.filter(name=name).delete()
    before = _state()

    _apply(verb, _managers(root)[manager].filter(**CALLER_FILTERS[caller_filter]))

    after = _state()
    touched = {name for name in ROWS if after.get(name) != before[name]}
    in_filter = {name for name in ROWS if caller_filter == "every row" or name.endswith("-a")}
    assert touched == SHOWN[manager] & ACTS_ON[verb] & in_filter
    assert Folder.objects.filter(name="root").exists(), "a verb never reaches past the caller's filter"


@pytest.mark.django_db
def test_emptying_the_trash_never_touches_a_live_row_or_its_cascade() -> None:
    with in_tenant(TENANT_A):
        live = Folder.objects.create(name="live")
        trashed = Folder.objects.create(name="trashed")
    kept_note = Note.objects.create(folder=live, text="kept")
    trashed.delete()

    assert Folder.deleted_objects.hard_delete()[1] == {"testapp.Folder": 1}
    assert Folder.objects.get() == live
    assert Note.objects.get() == kept_note
    assert Folder.objects.restore() == {}, "objects shows no deleted row: nothing to restore"
    assert Folder.deleted_objects.all().delete() == (0, {}), "deleted_objects shows no alive row to delete"


# --- visibility on combined querysets ------------------------------------------------------------


@pytest.fixture
def four_folders(db: None) -> dict[str, Folder]:
    with in_tenant(TENANT_A):
        folders = {name: Folder.objects.create(name=name) for name in ("a", "b", "c", "d")}
    Folder.objects.filter(name__in=["b", "d"]).delete()
    return folders


def _names(queryset: Any) -> set[str]:
    return set(queryset.values_list("name", flat=True))


def test_visibility_of_or_combined_querysets(four_folders: dict[str, Folder]) -> None:
    either = Folder.objects.filter(name="a") | Folder.objects.filter(name="b")
    assert _names(either) == {"a"}
    assert _names(either.with_deleted()) == {"a", "b"}
    assert _names(either.deleted()) == {"b"}
    assert _names(either.with_deleted().alive()) == {"a"}

    mixed = Folder.objects.filter(name__in=["a", "b"]) | Folder.deleted_objects.filter(name__in=["c", "d"])
    assert _names(mixed) == {"a", "d"}, "each side keeps its own restriction"
    assert _names(mixed.with_deleted()) == {"a", "b", "c", "d"}
    assert _names(mixed.alive()) == {"a", "c"}
    assert _names(mixed.deleted()) == {"b", "d"}


def test_visibility_of_and_and_xor_combined_querysets(four_folders: dict[str, Folder]) -> None:
    both = Folder.all_objects.filter(name__in=["a", "b", "c"]) & Folder.deleted_objects.filter(name__in=["b", "d"])
    assert _names(both) == {"b"}
    assert _names(both.with_deleted()) == {"b"}
    assert _names(both.alive()) == set()
    one_of = Folder.objects.filter(name__in=["a", "b", "c"]) ^ Folder.objects.filter(name__in=["c", "d"])
    assert _names(one_of) == {"a"}
    assert _names(one_of.with_deleted()) == {"a", "b", "d"}


def test_combining_a_queryset_with_its_own_lifted_clone_keeps_each_sides_rows(four_folders: dict[str, Folder]) -> None:
    base = Folder.objects.filter(name__in=["a", "b", "c"])
    assert _names(base.with_deleted() | base.filter(name="c")) == {"a", "b", "c"}
    assert _names(base.with_deleted() & base) == {"a", "c"}
    assert _names((base.with_deleted() & base).with_deleted()) == {"a", "c"}


def test_visibility_holds_in_subqueries_unions_and_pickled_querysets(four_folders: dict[str, Folder]) -> None:
    inner = Folder.objects.filter(name__in=["a", "b"]).with_deleted().values("pk")
    assert _names(Folder.all_objects.filter(pk__in=inner)) == {"a", "b"}
    assert _names(Folder.all_objects.filter(pk__in=Folder.objects.values("pk"))) == {"a", "c"}
    deleted_twin = Folder.deleted_objects.filter(pk=OuterRef("pk"))
    assert _names(Folder.all_objects.filter(Exists(deleted_twin))) == {"b", "d"}
    by_name = Folder.objects.with_deleted().filter(name="b").values("pk")
    assert _names(Folder.all_objects.filter(pk=Subquery(by_name))) == {"b"}
    assert _names(pickle.loads(pickle.dumps(Folder.objects.with_deleted()))) == {"a", "b", "c", "d"}
    assert _names(Folder.objects.all().union(Folder.deleted_objects.filter(name="d"))) == {"a", "c", "d"}
