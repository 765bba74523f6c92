"""What a change means outside its table, declared once per model and run where the audit log is written.

A feature declares, next to its model (`<app>/effects.py`, imported by `CoreConfig.ready()`),
which domain event each action emits and which cache tags a changed row makes stale:

    declare(Invoice, SideEffects(
        aggregate="invoice",
        events={AuditAction.CREATE: RowEvent("invoice.created", lambda row: {"number": row.new("number")})},
        row_tags=lambda pk: [f"invoice:{pk}"],
        tags=("invoices:lists",),
    ))

Every write path of `apps.core` (save, queryset `update()`, `bulk_create()`, `bulk_update()`,
soft delete and its cascade, restore, hard delete, upsert) hands its rows to `changed()` from
`apps.core.audit.record()`, in the transaction of the change, so a service, the admin and a
shell script emit and invalidate alike, once. Core imports no app: `apps.events` plugs in how an
event is published (the outbox, same transaction) and `apps.caching` how tags are invalidated
(queued to the commit), from their `AppConfig.ready()`. A write that rolls back takes its
events with it, and its invalidation never runs.

Rules: one event per row (a set-based delete of 100 documents emits 100 `document.deleted`,
each with its `delete_batch`; every model of a cascade that declares the action emits for its
own rows); an update whose diff is empty (only the stamps moved) emits nothing but still
invalidates (the cached row shows `updated_at`); an upsert emits one summary event
(`upserted`, payload `{"created": n, "updated": n}`) instead of one per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from apps.core.models.audit import AuditAction

if TYPE_CHECKING:
    from apps.core.audit import AuditRecord

__all__ = [
    "MANY_ROWS",
    "DeclaredEvent",
    "RowEvent",
    "SideEffects",
    "changed",
    "declare",
    "declared_event_types",
    "gathered",
    "plug_invalidator",
    "plug_publisher",
    "undeclare",
    "upserted",
]

# Past this many rows in one change, `all_rows_tags` (when declared) replaces the rows' own tags.
MANY_ROWS = 100


def _no_payload(row: AuditRecord) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class RowEvent:
    """The event one changed row emits: its type, and its payload built from the row's audit diff."""

    type: str
    payload: Callable[[AuditRecord], Mapping[str, object]] = _no_payload


@dataclass(frozen=True)
class SideEffects:
    """A model's side effects. `events` by action; the tags of a change are `tags` plus each row's `row_tags`."""

    aggregate: str
    events: Mapping[AuditAction, RowEvent] = field(default_factory=dict)
    upserted: str | None = None  # the one event of an upsert, payload {"created": n, "updated": n}
    row_tags: Callable[[Any], Iterable[str]] | None = None  # by primary key
    tags: Sequence[str] = ()
    all_rows_tags: Sequence[str] = ()  # one tag covering every row's own tags, for changes of MANY_ROWS+ rows

    def event_types(self) -> set[str]:
        return {event.type for event in self.events.values()} | ({self.upserted} if self.upserted else set())


@dataclass(frozen=True)
class DeclaredEvent:
    """An event a change emits, handed to the plugged publisher (`apps.events`) inside the change's transaction."""

    type: str
    aggregate: str
    aggregate_id: str
    payload: Mapping[str, object]
    tenant_id: uuid.UUID | None


class Publisher(Protocol):
    """Writes the events of one change to the outbox, in order, in the caller's transaction."""

    def __call__(self, events: Sequence[DeclaredEvent], *, using: str) -> object: ...


class Invalidator(Protocol):
    def __call__(self, tags: Iterable[str], *, using: str) -> object: ...


@dataclass
class _Plugged:
    publisher: Publisher | None = None
    invalidator: Invalidator | None = None


_declared: dict[type[models.Model], SideEffects] = {}
_plugged = _Plugged()
# Inside an upsert: its rows' changes, gathered to be run as one (`gathered()`).
_gathering: ContextVar[tuple[type[models.Model], list[AuditRecord]] | None] = ContextVar(
    "side_effects_gathering", default=None
)


def _effects_of(model: type[models.Model]) -> SideEffects | None:
    # A proxy model's writes are its concrete model's.
    return _declared.get(model) or _declared.get(model._meta.concrete_model or model)


def declare(model: type[models.Model], effects: SideEffects) -> None:
    """Register `model`'s side effects (once, from `<app>/effects.py`). The model must be audited."""
    from apps.core.models.features import is_audited  # noqa: PLC0415 - the features import the mixins, which import this

    if not is_audited(model):
        raise ImproperlyConfigured(
            f"{model._meta.label} declares side effects but is not audited: its writes never reach the choke point "
            "(add AuditColumnsMixin)"
        )
    _declared[model] = effects  # a second declaration (a module imported again) replaces the first


def undeclare(model: type[models.Model]) -> None:
    """Forget `model`'s declaration (tests that declare throwaway effects)."""
    _declared.pop(model, None)


def declared_event_types() -> set[str]:
    """Every event type some model declares: a consumer knows them even when nobody subscribes."""
    return set().union(*(effects.event_types() for effects in _declared.values()))


def plug_publisher(publisher: Publisher) -> None:
    """`apps.events` publishes the declared events (called from its `AppConfig.ready()`)."""
    _plugged.publisher = publisher


def plug_invalidator(invalidator: Invalidator) -> None:
    """`apps.caching` invalidates the declared tags (called from its `AppConfig.ready()`)."""
    _plugged.invalidator = invalidator


def _missing(what: str, model: type[models.Model]) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{model._meta.label} declares side effects but nothing is plugged in to {what} them "
        "(is the platform app in INSTALLED_APPS?)"
    )


def _publisher(model: type[models.Model]) -> Publisher:
    if _plugged.publisher is None:
        raise _missing("publish", model)
    return _plugged.publisher


def _invalidator(model: type[models.Model]) -> Invalidator:
    if _plugged.invalidator is None:
        raise _missing("invalidate", model)
    return _plugged.invalidator


def _invalidate(model: type[models.Model], effects: SideEffects, pks: Sequence[Any], using: str) -> None:
    tags = list(effects.tags)
    if effects.all_rows_tags and len(pks) >= MANY_ROWS:
        tags += effects.all_rows_tags
    elif effects.row_tags is not None:
        for pk in pks:
            tags += effects.row_tags(pk)
    if tags:
        _invalidator(model)(list(dict.fromkeys(tags)), using=using)


def changed(model: type[models.Model], action: AuditAction, rows: Sequence[AuditRecord], *, using: str) -> None:
    """Run `model`'s declared side effects for `rows`, just written by `action` (the caller's transaction)."""
    effects = _effects_of(model)
    if effects is None or not rows:
        return
    gathering = _gathering.get()
    if gathering is not None and _effects_of(gathering[0]) is effects:
        gathering[1].extend(rows)
        return
    spec = effects.events.get(action)
    if spec is not None:
        events = [
            DeclaredEvent(spec.type, effects.aggregate, str(row.pk), spec.payload(row), row.tenant_id)
            for row in rows
            # An update that moved only the stamps: nothing happened that a subscriber needs to know.
            if row.changes or action is not AuditAction.UPDATE
        ]
        if events:
            _publisher(model)(events, using=using)
    _invalidate(model, effects, [row.pk for row in rows], using)


@contextmanager
def gathered(model: type[models.Model]) -> Iterator[list[AuditRecord]]:
    """Inside the block, `model`'s changes are collected instead of run; the caller runs them as one."""
    rows: list[AuditRecord] = []
    token = _gathering.set((model, rows))
    try:
        yield rows
    finally:
        _gathering.reset(token)


def upserted(
    model: type[models.Model],
    rows: Sequence[AuditRecord],
    *,
    created: int,
    updated: int,
    using: str,
) -> None:
    """An upsert's side effects: its one summary event (unless nothing changed) and its rows' tags."""
    effects = _effects_of(model)
    if effects is None or not rows:
        return
    if effects.upserted and (created or any(row.changes for row in rows)):
        payload = {"created": created, "updated": updated}
        tenants = {row.tenant_id for row in rows}
        tenant_id = tenants.pop() if len(tenants) == 1 else None  # None: the publisher's context
        event = DeclaredEvent(effects.upserted, effects.aggregate, "*", payload, tenant_id)
        _publisher(model)([event], using=using)
    _invalidate(model, effects, list(dict.fromkeys(row.pk for row in rows)), using)
