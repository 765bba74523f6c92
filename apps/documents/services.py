"""Writes of documents: `document_<action>`, keyword-only, one transaction each.

Every write stamps the audit columns and the audit log through the core models, which
also emit its domain event and invalidate the cached reads it made stale (declared once,
in `apps.documents.effects`): a service only decides what to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.core.errors import Conflict
from apps.core.repository import UpsertResult
from apps.core.versioning import ExpectedVersion
from apps.documents.models import Document, DocumentStatus
from apps.documents.repositories import DocumentRepository

__all__ = [
    "document_bulk_upsert",
    "document_create",
    "document_delete",
    "document_restore",
    "document_update",
]


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
        return repository.create(title=title, body=body, status=status, tags=list(tags))


def document_update(
    *, document_id: uuid.UUID | str, changes: Mapping[str, Any], expected_version: ExpectedVersion | None = None
) -> Document:
    """Apply `changes`; with `expected_version` (If-Match) only if the row is still at that version.

    The repository locks the row before comparing: of two writers holding the same version, one
    wins and the other gets `PreconditionFailed` and writes nothing (no stamp, audit event or event).
    A change that leaves every value as it was emits no event.
    """
    repository = DocumentRepository()
    with transaction.atomic():
        document = repository.get_or_raise(document_id)
        if "title" in changes and _title_taken(repository, changes["title"], other_than=document.pk):
            raise Conflict(
                f"A document titled {changes['title']!r} already exists.", errors={"title": ["Already in use."]}
            )
        return repository.update(document, expected_version=expected_version, **changes)


def document_delete(*, document_id: uuid.UUID | str, expected_version: ExpectedVersion | None = None) -> None:
    """Soft-delete a live document; one already deleted (also by a concurrent request) is `NotFound`."""
    repository = DocumentRepository()
    with transaction.atomic():
        repository.delete(repository.get_or_raise(document_id), expected_version=expected_version)


def document_restore(*, document_id: uuid.UUID | str, expected_version: ExpectedVersion | None = None) -> Document:
    """Restore a deleted document with its delete batch; one that is alive (restored meanwhile) is `NotFound`."""
    return DocumentRepository().restore(document_id, expected_version=expected_version)


def document_bulk_upsert(*, rows: Sequence[Mapping[str, Any]]) -> UpsertResult:
    """Create or update documents by title (unique per tenant among live rows).

    A row updates only the fields it gives: an omitted body, status or tags keeps the
    document's value, and gets the model's default only when the row creates it.
    """
    return DocumentRepository().upsert(rows, conflict_fields=["title"], update_fields=["body", "status", "tags"])
