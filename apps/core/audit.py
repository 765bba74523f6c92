"""Recording audit events for changes made through the core models and querysets.

Every write path of `apps.core` (save, queryset update, bulk create/update, soft
delete, restore, hard delete) calls `record()` inside the same transaction as the
change, so the log and the data commit or roll back together. It is also where the
change's side effects run (`apps.core.side_effects`: declared events and cache tags),
once, whichever path wrote.

Every value in `AuditEvent.changes` is in one encoding, `audit_value()`, whichever path
wrote it and whichever database holds it (a SQL writer must produce the same text):

- timestamps: UTC, always six fraction digits, `Z`: `"2026-12-02T01:59:39.120000Z"`
  (a naive one is read in the default time zone, as Django stores it);
- dates / times: ISO 8601 (`"2026-12-02"`, `"01:59:39"`); durations: ISO 8601 (`"P1DT02H00M00S"`);
- UUIDs: lower-case, hyphenated; decimals: a string with the field's decimal places (`"1.50"`);
- JSON: the decoded value; bytes: hex; strings, numbers, booleans and `None` as they are.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.duration import duration_iso_string

from apps.core import side_effects
from apps.core.context import current_actor, current_request_id
from apps.core.models.audit import AuditAction, AuditEvent
from apps.core.models.features import is_audited

__all__ = ["AuditRecord", "audit_value", "changed_fields", "encoded_changes", "is_audited", "record"]

_BATCH_SIZE = 2000
# Fields every write touches; listing them in each diff would bury the real change.
_NOISE = frozenset({"updated_at", "updated_by"})


@dataclass(frozen=True)
class AuditRecord:
    """One row a write touched: its diff `{attname: [old, new]}` (empty when only the stamps moved)."""

    pk: Any
    changes: Mapping[str, list[Any]]
    tenant_id: uuid.UUID | None = None

    def new(self, name: str) -> Any:
        """The value the write left in `name` (`None` when the diff does not name it)."""
        change = self.changes.get(name)
        return None if change is None else change[1]


@cache
def _fields_by_attname(model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    return {field.attname: field for field in model._meta.concrete_fields}


def _timestamp(value: datetime.datetime) -> str:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_value(field: models.Field[Any, Any] | None, value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """The canonical JSON form of one field value in an audit diff (see the module docstring)."""
    if value is None:
        return None
    if field is not None:
        try:
            value = field.to_python(value)  # what the instance holds may be a string the database would parse
        except ValidationError:
            return str(value)
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        places = getattr(field, "decimal_places", None)
        return format(value.quantize(Decimal(1).scaleb(-places)) if places is not None else value, "f")
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, str | int | float | bool):
        return value
    encoder = getattr(field, "encoder", None) or DjangoJSONEncoder
    return json.loads(json.dumps(value, cls=encoder))


def _encoded(model: type[models.Model], name: str, value: Any) -> Any:
    return audit_value(_fields_by_attname(model).get(name), value)


def changed_fields(
    model: type[models.Model], before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for every field whose stored value differs, ignoring the update stamps."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if name not in _NOISE and _encoded(model, name, before.get(name)) != _encoded(model, name, value)
    }


def encoded_changes(model: type[models.Model], changes: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """A diff in the one stored encoding (`audit_value`); every writer of `AuditEvent.changes` uses it."""
    return {name: [_encoded(model, name, old), _encoded(model, name, new)] for name, (old, new) in changes.items()}


def record(
    model: type[models.Model],
    action: AuditAction,
    records: Iterable[AuditRecord],
    *,
    occurred_at: Any,
    using: str = "default",
    batch: uuid.UUID | None = None,
) -> int:
    """Append one event per record that changed something, then run the side effects; how many were written.

    An update record with an empty diff (the write moved only the stamps) is not logged, but
    its side effects still run: a cached copy of the row shows the stamps too.
    """
    if not is_audited(model):
        return 0
    touched = list(records)
    actor = current_actor() or ""
    request_id = current_request_id() or ""
    label = model._meta.label_lower
    encoded: dict[int, dict[str, list[Any]]] = {}  # a soft delete shares one changes mapping across its rows

    def encode(changes: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        if id(changes) not in encoded:
            encoded[id(changes)] = encoded_changes(model, changes)
        return encoded[id(changes)]

    items = [item for item in touched if item.changes or action is not AuditAction.UPDATE]
    events = [
        AuditEvent(
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            model_label=label,
            object_pk=str(item.pk),
            tenant_id=item.tenant_id,
            request_id=request_id,
            batch=batch,
            changes=encode(item.changes),
        )
        for item in items
    ]
    AuditEvent.objects.using(using).bulk_create(events, batch_size=_BATCH_SIZE)
    side_effects.changed(model, action, touched, using=using)
    return len(events)
