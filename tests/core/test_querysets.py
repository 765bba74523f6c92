"""Managers built with `from_queryset()` keep the custom queryset (and the alive/deleted rules)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.test.utils import isolate_apps

from apps.core.models import SoftDeleteMixin
from apps.core.querysets import (
    AliveManager,
    AllObjectsManager,
    CoreManager,
    CoreQuerySet,
    DeletedManager,
    SoftDeleteQuerySet,
)


class PublishedQuerySet(SoftDeleteQuerySet[Any]):
    def published(self) -> PublishedQuerySet:
        return self.filter(status="published")


class CountedQuerySet(CoreQuerySet[Any]):
    def big(self) -> CountedQuerySet:
        return self.filter(value__gt=100)


def _where(queryset: models.QuerySet[Any]) -> str:
    return str(queryset.query).partition(" WHERE ")[2]


@isolate_apps("tests.testapp")
def test_soft_delete_managers_use_the_queryset_class_they_were_built_from() -> None:
    class Article(SoftDeleteMixin):
        status = models.CharField(max_length=20)

        objects = AliveManager.from_queryset(PublishedQuerySet)()
        all_objects = AllObjectsManager.from_queryset(PublishedQuerySet)()
        deleted_objects = DeletedManager.from_queryset(PublishedQuerySet)()

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

        objects = CoreManager.from_queryset(CountedQuerySet)()

        class Meta:
            app_label = "testapp"

    assert isinstance(Counter.objects.big(), CountedQuerySet)
    assert isinstance(CoreManager().get_queryset(), CoreQuerySet), "the default stays CoreQuerySet"
