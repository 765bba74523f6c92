"""What an admin confirmation page lists: rows a soft delete would hide, a restore bring back, a hard delete remove.

Listings are read-only and capped per model (`shown_per_model`), with the exact number
of rows per model, so a page stays small when a batch holds thousands of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.admin import AdminSite
from django.contrib.admin.utils import NestedObjects, quote
from django.db import models, router
from django.db.models.deletion import CASCADE, PROTECT, RESTRICT
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from apps.core.soft_delete import is_soft_deletable, restore_plan

__all__ = [
    "CascadeListing",
    "ModelRows",
    "hard_delete_listing",
    "object_link",
    "restore_listing",
    "soft_delete_listing",
]

SHOWN_PER_MODEL = 100


@dataclass
class ModelRows:
    """Rows of one model on a confirmation page: the first few as links, and how many in all."""

    model: type[models.Model]
    shown: list[SafeString]
    total: int

    @property
    def verbose_name_plural(self) -> str:
        return str(capfirst(self.model._meta.verbose_name_plural))

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def hidden(self) -> int:
        return self.total - len(self.shown)


@dataclass
class CascadeListing:
    groups: list[ModelRows] = field(default_factory=list)
    protected: list[SafeString] = field(default_factory=list)
    perms_lacking: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)

    def model_count(self) -> dict[str, int]:
        return {group.verbose_name_plural: group.total for group in self.groups}

    def flat(self) -> list[SafeString]:
        """One line per row shown (the shape Django's delete confirmation templates render)."""
        lines: list[SafeString] = []
        for group in self.groups:
            lines.extend(group.shown)
            if group.hidden:
                lines.append(format_html("… and {} more {}", group.hidden, group.model._meta.verbose_name_plural))
        return lines


def object_link(obj: models.Model, admin_site: AdminSite) -> SafeString:
    """`Document: <a>title</a>` when the model has an admin page here, else plain text."""
    opts = obj._meta
    label = capfirst(opts.verbose_name)
    if type(obj) in admin_site._registry:
        try:
            url = reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
        except NoReverseMatch:
            pass
        else:
            return format_html('{}: <a href="{}">{}</a>', label, url, obj)
    return format_html("{}: {}", label, obj)


def _rows(model: type[models.Model], queryset: models.QuerySet[Any], admin_site: AdminSite, shown: int) -> ModelRows:
    total = queryset.count()
    first = list(queryset.order_by("pk")[:shown]) if total else []
    return ModelRows(model, [object_link(obj, admin_site) for obj in first], total)


def _reverse_relations(model: type[models.Model]) -> Iterable[models.ManyToOneRel]:
    for relation in model._meta.related_objects:
        if isinstance(relation, models.ManyToOneRel) and relation.on_delete is not None:
            yield relation


def soft_delete_listing(
    queryset: models.QuerySet[Any], admin_site: AdminSite, *, shown_per_model: int = SHOWN_PER_MODEL
) -> CascadeListing:
    """The alive rows of `queryset` and the soft-deletable rows its soft delete cascades to.

    Mirrors `apps.core.soft_delete`: CASCADE to a soft-deletable model follows, PROTECT /
    RESTRICT from an alive row blocks, anything else is left alone.
    """
    listing = CascadeListing()
    seen: dict[type[models.Model], models.QuerySet[Any]] = {}
    pending: list[tuple[type[models.Model], models.QuerySet[Any]]] = [
        (queryset.model, queryset.filter(deleted_at__isnull=True))
    ]
    while pending:
        model, rows = pending.pop(0)
        if model in seen:  # a self-referential cascade: one level is enough for a confirmation page
            continue
        seen[model] = rows
        group = _rows(model, rows, admin_site, shown_per_model)
        if not group.total:
            continue
        listing.groups.append(group)
        for relation in _reverse_relations(model):
            child = relation.related_model
            if not isinstance(child, type):
                continue
            children = child._base_manager.db_manager(rows.db).filter(
                **{f"{relation.field.name}__in": rows.values("pk")}
            )
            if is_soft_deletable(child):
                children = children.filter(deleted_at__isnull=True)
            if relation.on_delete in (PROTECT, RESTRICT):
                listing.protected.extend(object_link(obj, admin_site) for obj in children[:shown_per_model])
            elif relation.on_delete is CASCADE and is_soft_deletable(child):
                pending.append((child, children))
    return listing


def restore_listing(
    deleted: models.QuerySet[Any],
    admin_site: AdminSite,
    *,
    whole_batches: bool = False,
    shown_per_model: int = SHOWN_PER_MODEL,
) -> CascadeListing:
    """Exactly what restoring the deleted rows of `deleted` brings back (`apps.core.soft_delete.restore_plan`)."""
    by_model: dict[type[models.Model], models.QuerySet[Any]] = {}
    for step in restore_plan(deleted, whole_batches=whole_batches):
        # A self-referential tree plans one step per level: one group per model on the page.
        earlier = by_model.get(step.model)
        by_model[step.model] = step.rows if earlier is None else earlier | step.rows
    listing = CascadeListing()
    for model, rows in by_model.items():
        group = _rows(model, rows, admin_site, shown_per_model)
        if group.total:
            listing.groups.append(group)
    return listing


def _perm_for_hard_delete(model: type[models.Model]) -> str:
    action = "hard_delete" if is_soft_deletable(model) else "delete"
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def hard_delete_listing(
    objs: Iterable[models.Model],
    model: type[models.Model],
    admin_site: AdminSite,
    user: Any,
    *,
    shown_per_model: int = SHOWN_PER_MODEL,
) -> CascadeListing:
    """What Django's collector will really delete, and which related models `user` may not hard-delete."""
    collector = NestedObjects(using=router.db_for_write(model))
    collector.collect(list(objs))
    listing = CascadeListing()
    # Keyed by model class (django-stubs says str).
    model_objs = cast(dict[type[models.Model], set[models.Model]], collector.model_objs)
    for related_model, instances in model_objs.items():
        ordered = sorted(instances, key=lambda obj: str(obj.pk))
        shown = [object_link(obj, admin_site) for obj in ordered[:shown_per_model]]
        listing.groups.append(ModelRows(related_model, shown, len(ordered)))
        registered_elsewhere = related_model is not model and related_model in admin_site._registry
        if registered_elsewhere and not user.has_perm(_perm_for_hard_delete(related_model)):
            listing.perms_lacking.append(str(related_model._meta.verbose_name))
    listing.groups.sort(key=lambda group: group.model is not model)  # the selected model first
    listing.protected = [object_link(obj, admin_site) for obj in list(collector.protected)[:shown_per_model]]
    return listing
