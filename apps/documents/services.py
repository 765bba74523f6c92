"""Writes of documents: `document_<action>`, keyword-only, one transaction each.

Every write stamps audit columns and the audit log (through the core models),
invalidates the cache tags it affects after commit, and emits its domain event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.caching import invalidate_tags
from apps.core.errors import Conflict
from apps.core.repository import UpsertResult
from apps.core.versioning import ExpectedVersion
from apps.documents.models import Document, DocumentStatus
from apps.documents.repositories import DocumentRepository
from apps.documents.selectors import DETAIL_TAG, LIST_TAG, document_tag
from apps.events import publish

__all__ = [
    "document_bulk_upsert",
    "document_create",
    "document_delete",
    "document_restore",
    "document_update",
]


def _emit(event_type: str, document: Document, payload: dict[str, Any]) -> None:
    """The domain event of a write, in its transaction (the outbox)."""
    publish(event_type, aggregate="document", aggregate_id=document.pk, payload=payload)


def _title_taken(repository: DocumentRepository, title: str, *, other_than: uuid.UUID | None = None) -> bool:
    queryset = repository.queryset().filter(title=title)
    if other_than is not None:
        queryset = queryset.exclude(pk=other_than)
    return queryset.exists()


def document_create(
    *, title: str, body: str = "", status: str = DocumentStatus.DRAFT, tags: Iterable[str] = ()
) -> Document:
    repository = DocumentRepository()
    with transaction.atomic():
        if _title_taken(repository, title):
            raise Conflict(f"A document titled {title!r} already exists.", errors={"title": ["Already in use."]})
        document = repository.create(title=title, body=body, status=status, tags=list(tags))
        invalidate_tags([LIST_TAG])
        _emit("document.created", document, {"title": document.title, "status": document.status})
    return document


def document_update(
    *, document_id: uuid.UUID | str, changes: Mapping[str, Any], expected_version: ExpectedVersion | None = None
) -> Document:
    """Apply `changes`; with `expected_version` (If-Match) only if the row is still at that version.

    The repository locks the row before comparing: of two writers holding the same version, one
    wins and the other gets `PreconditionFailed` and writes nothing (no stamp, audit event or event).
    """
    repository = DocumentRepository()
    with transaction.atomic():
        document = repository.get_or_raise(document_id)
        if "title" in changes and _title_taken(repository, changes["title"], other_than=document.pk):
            raise Conflict(
                f"A document titled {changes['title']!r} already exists.", errors={"title": ["Already in use."]}
            )
        repository.update(document, expected_version=expected_version, **changes)
        if changes:
            _emit("document.updated", document, {"fields": sorted(changes)})
            invalidate_tags([document_tag(document.pk), LIST_TAG])
    return document


def document_delete(*, document_id: uuid.UUID | str, expected_version: ExpectedVersion | None = None) -> None:
    """Soft-delete a live document; one already deleted (also by a concurrent request) is `NotFound`."""
    repository = DocumentRepository()
    with transaction.atomic():
        document = repository.delete(repository.get_or_raise(document_id), expected_version=expected_version)
        invalidate_tags([document_tag(document.pk), LIST_TAG])
        _emit("document.deleted", document, {"delete_batch": str(document.delete_batch)})


def document_restore(*, document_id: uuid.UUID | str, expected_version: ExpectedVersion | None = None) -> Document:
    """Restore a deleted document with its delete batch; one that is alive (restored meanwhile) is `NotFound`."""
    repository = DocumentRepository()
    with transaction.atomic():
        document = repository.restore(document_id, expected_version=expected_version)
        invalidate_tags([document_tag(document.pk), LIST_TAG])
        _emit("document.restored", document, {})
    return document


def document_bulk_upsert(*, rows: Sequence[Mapping[str, Any]]) -> UpsertResult:
    """Create or update documents by title (unique per tenant among live rows).

    A row updates only the fields it gives: an omitted body, status or tags keeps the
    document's value, and gets the model's default only when the row creates it.
    """
    with transaction.atomic():
        result = DocumentRepository().upsert(rows, conflict_fields=["title"], update_fields=["body", "status", "tags"])
        invalidate_tags([LIST_TAG, DETAIL_TAG])  # rows were updated in bulk: drop every cached detail too
        publish(
            "documents.bulk_upserted",
            aggregate="document",
            aggregate_id="*",
            payload={"created": result.created, "updated": result.updated},
        )
    return result
